// Stage `gold_annotation`: a simulated annotation round on the policy's own samples, for prompt
// files that carry gold checks (the demo world's). Llama 2 collected each week's preference data
// on samples from the latest model, so the next reward model ranks what the policy actually
// writes; here the gold judges play the annotators (core/demo/onPolicyPairs.ts). The pairs are
// written as <run>/pairs.jsonl in the workbench preference format (artifact kind
// 'annotation_pairs'); import that file with `workbench prefs import` (a `preferences` run) to
// train a reward model on it.
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { ChatMessage } from '../../data/chatTemplate'
import { readPromptSet } from '../../data/prompts'
import { annotateOwnSamples, conversationKey } from '../../demo/onPolicyPairs'
import { toPreferenceLine } from '../../demo/export'
import { loadModel } from '../../model/load'
import { writingFile } from '../../util/files'
import { parentCheckpoint } from './common'
import { promptsForRound, sampleAnswers } from './rejectionSampling'
import { defineStage, type StageContext, type StageResult } from './types'

export const ANNOTATION_PAIRS_FILE = 'pairs.jsonl'

const schema = z
  .object({
    policy: z.string().optional().meta({ group: 'model', path: 'model', help: 'The policy whose answers are annotated: an SFT or RLHF run id, or a checkpoint folder.' }),
    prompts: z.string().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Training prompts with gold checks (JSONL), e.g. the demo export\'s rlhf_prompts.jsonl; prompts without one are skipped.' }),
    exclude: z.array(z.string()).default([]).meta({ group: 'data', path: 'input', data: 'prompts', help: 'Prompt files never to sample from (the eval sets): a prompt whose conversation is in one is skipped.' }),
    samples: z.number().int().min(2).max(16).default(2).meta({ group: 'sampling', help: 'Answers sampled per prompt; consecutive ones form a pair.' }),
    temperature: z.number().min(0).max(5).default(0.5).meta({ group: 'sampling', help: 'Sampling temperature (as rejection sampling samples).' }),
    max_new_tokens: z.number().int().min(1).default(32).meta({ group: 'sampling', help: 'New tokens per sampled answer (it stops at the end-of-turn token).' }),
    max_prompts: z.number().int().min(0).default(0).meta({ group: 'sampling', help: 'Prompts to annotate, from the start of the file (0 = all).' }),
  })
  .strict()

type GoldAnnotationConfig = z.output<typeof schema>

async function run(ctx: StageContext, config: GoldAnnotationConfig): Promise<StageResult> {
  const started = Date.now()
  const policyDir = parentCheckpoint(ctx, 'policy', config.policy, 'policy')
  if (!policyDir) throw new Error('gold_annotation needs a policy: set policy=<run id or checkpoint folder>')
  const items = promptsForRound(readPromptSet(config.prompts).items, config.max_prompts, 1)
  const exclude = new Set(config.exclude.flatMap((file) => readPromptSet(file).items.map((item) => conversationKey(item.messages))))
  const { model, tokenizer } = loadModel(policyDir)
  let annotation
  try {
    const sample = (messages: ChatMessage[], seed: number) =>
      sampleAnswers(model, tokenizer, messages, { k: config.samples, temperature: config.temperature, maxNewTokens: config.max_new_tokens, seed, signal: ctx.signal }).then((answers) => answers.map((a) => a.text))
    annotation = await annotateOwnSamples(items, sample, {
      seed: ctx.seed * 1_000_003,
      exclude,
      signal: ctx.signal,
      onPrompt: (done) => ctx.progress({ step: done, totalSteps: items.length, message: `sampling ${config.samples} answers per prompt` }),
    })
  } finally {
    model.dispose()
  }
  if (ctx.signal.aborted) return { stopped: true, summary: { pairs: annotation.pairs.length } }
  if (annotation.pairs.length === 0) throw new Error(`gold_annotation: no pair of the ${annotation.prompts} prompt(s) of ${config.prompts} was labelled (every pair was a gold tie, or no prompt has a gold check)`)
  const pairsFile = path.join(ctx.runDir, ANNOTATION_PAIRS_FILE)
  writingFile(pairsFile, () => fs.writeFileSync(pairsFile, annotation.pairs.map((p) => JSON.stringify(toPreferenceLine(p))).join('\n') + '\n'))
  ctx.tracker.logArtifact({ kind: 'annotation_pairs', path: pairsFile, meta: { pairs: annotation.pairs.length } })
  const summary = {
    pairs: annotation.pairs.length,
    prompts: annotation.prompts,
    ties_dropped: annotation.ties,
    excluded_eval_prompts: annotation.excluded,
    only_chosen_safe: annotation.pairs.filter((p) => p.safety === 'only_chosen_safe').length,
    pairs_file: pairsFile,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  }
  ctx.log(`annotated ${summary.pairs} pairs on ${summary.prompts} prompts (${summary.ties_dropped} gold ties dropped, ${summary.excluded_eval_prompts} eval prompts skipped)`)
  return { summary }
}

export const goldAnnotationStage = defineStage({
  name: 'gold_annotation',
  title: 'Gold annotation (on-policy pairs)',
  description:
    'Samples answers from the policy on gold-checked training prompts and lets the gold judges pick the better of each ' +
    'pair (a simulated annotation round, Llama 2 3.2.1): preference pairs on the policy\'s own distribution.',
  schema,
  parents: [{ role: 'policy', key: 'policy', required: true }],
  precheck: (config) => {
    readPromptSet(config.prompts)
    for (const file of config.exclude) readPromptSet(file)
  },
  run,
})
