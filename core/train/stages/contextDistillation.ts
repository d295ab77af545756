// Stage `context_distillation` (RECIPE.md section 7, Llama 2 section 4.2.4): answer adversarial
// prompts with a safety pre-prompt in front ("You are a safe and responsible assistant ...", and
// per risk category an answer template), then fine-tune on those answers with the pre-prompt
// REMOVED, so the safe behaviour no longer needs it.
//
// Targeted (`targeted: true`): only adversarial prompts, and a distilled answer is kept only when
// the safety reward model (parent `rm_safety`) scores it above the answer the model gives without
// the pre-prompt: the paper's fix for the vague, over-cautious answers plain distillation
// produces on prompts that did not need it. Kept and dropped counts are recorded (params), and
// every prompt's two answers and scores go to distillation.jsonl.
//
// The fine-tuning is SFT's own (fineTuneOnChatFiles) on the chat file this stage writes
// (distilled_sft.jsonl: the prompts' own turns and the distilled answer, no pre-prompt).

import { scoreResponses } from '../../eval/rewardScore'
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import type { ChatMessage } from '../../data/chatTemplate'
import { readPromptSet, type PromptItem } from '../../data/prompts'
import { chatAnswer } from '../../eval/chatAnswer'
import type { Llama } from '../../model/llama'
import { loadModel, type LoadedModel } from '../../model/load'
import type { Tokenizer } from '../../tokenizer'
import { parentCheckpoint } from './common'
import { precheckPrompts, precheckSft } from './precheck'
import { fineTuneOnChatFiles, sftTrainingFields } from './sft'
import { finetuningEstimate } from './finetuning'
import { defineStage, type StageContext, type StageResult } from './types'

/** The paper's safety pre-prompt, from adjectives of safe behaviour. */
export const SAFETY_PRE_PROMPT =
  'You are a safe and responsible assistant. You are respectful, wise, honest and caring. ' +
  'You never help anyone hurt people or animals, invade privacy, steal, deceive or do anything dangerous: ' +
  'you decline such requests politely and offer a safe alternative.'

/**
 * Per risk category, how a safe answer goes (the paper's answer templates). The categories are the
 * demo world's; a prompt of another category gets the pre-prompt alone.
 */
export const ANSWER_TEMPLATES: Record<string, string> = {
  violence: 'If asked how to hurt someone, answer like: "I can\'t help with hurting anyone. You could talk to them calmly instead."',
  privacy: 'If asked for private details, answer like: "I can\'t share private details such as home addresses or door codes."',
  dangerous: 'If asked for something dangerous, answer like: "I can\'t help with that, it could hurt someone. Please stay safe."',
  theft: 'If asked how to steal, answer like: "I can\'t help with taking what belongs to someone else. You could ask to borrow it."',
  deception: 'If asked to deceive someone, answer like: "I can\'t help with tricking people. Honesty works better."',
}

const schema = z
  .object({
    base: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model to distil into (and that writes the answers): a run id or a checkpoint folder.' }),
    prompts: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', data: 'prompts', help: 'Prompt sets (JSONL: prompt or messages, category, optional id and kind), e.g. the demo\'s adversarial prompts.' }),
    targeted: z.boolean().default(false).meta({ group: 'distillation', help: 'Only adversarial prompts, and keep a distilled answer only when the safety reward model scores it above the answer without the pre-prompt.' }),
    rm_safety: z.string().optional().meta({ group: 'model', path: 'model', help: 'The safety reward model (a run id or checkpoint folder); required with targeted.' }),
    pre_prompt: z.string().min(1).default(SAFETY_PRE_PROMPT).meta({ group: 'distillation', help: 'The safety pre-prompt put in front of each prompt (as a system message) while answering; never trained on.' }),
    answer_templates: z.boolean().default(true).meta({ group: 'distillation', help: 'Add the answer template of the prompt\'s risk category to the pre-prompt (violence, privacy, dangerous, theft, deception).' }),
    max_prompts: z.number().int().min(0).default(0).meta({ group: 'distillation', help: 'Use at most this many prompts (0 = all).' }),
    max_new_tokens: z.number().int().min(1).default(64).meta({ group: 'distillation', help: 'New tokens per generated answer.' }),
    cut_answers: z.enum(['drop', 'prefix']).default('drop').meta({ group: 'distillation', help: 'A pre-prompted answer cut at max_new_tokens: drop it (its end was never seen, nor judged), or learn it as a prefix without the end-of-turn token.' }),
    temperature: z.number().min(0).default(0).meta({ group: 'distillation', help: 'Sampling temperature of the answers (0 = greedy).' }),
    mix_data: z.array(z.string()).default([]).meta({ group: 'data', path: 'input', data: 'sft', help: 'SFT files learned beside the distilled answers (every line), e.g. helpful answers and benign look-alikes answered: trained on refusals alone, a model learns to refuse everything.' }),
    ...sftTrainingFields().shape,
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.targeted && !config.rm_safety) ctx.addIssue({ code: 'custom', path: ['rm_safety'], message: 'is required with targeted (the safety reward model decides which answers are kept)' })
  })

export type ContextDistillationConfig = z.output<typeof schema>

/** One prompt's outcome, as written to distillation.jsonl. */
export interface DistillationRecord {
  id: string
  category: string | null
  prompt: string
  answer_with_preprompt: string
  /** The pre-prompted answer was cut at max_new_tokens: dropped, or with cut_answers 'prefix' trained without its end-of-turn token. */
  unfinished?: true
  /** Targeted only: the model's answer without the pre-prompt, and both safety scores. */
  answer_without?: string
  score_with?: number
  score_without?: number
  kept: boolean
}

/** Adversarial: a `kind` of "adversarial" when the file gives a kind, else any prompt with a risk category. */
export function isAdversarial(item: PromptItem): boolean {
  const kind = item.extra.kind
  return typeof kind === 'string' ? kind === 'adversarial' : item.category !== undefined
}

/** The pre-prompt for one prompt: the base text, plus its category's answer template when asked for. */
export function prePromptFor(item: PromptItem, config: Pick<ContextDistillationConfig, 'pre_prompt' | 'answer_templates'>): string {
  const template = config.answer_templates && item.category ? ANSWER_TEMPLATES[item.category] : undefined
  return template ? `${config.pre_prompt} ${template}` : config.pre_prompt
}

/** The conversation with the pre-prompt in front: a system message, joined to the prompt's own system message if it has one. */
export function withPrePrompt(messages: ChatMessage[], prePrompt: string): ChatMessage[] {
  if (messages[0]?.role === 'system') return [{ role: 'system', content: `${prePrompt} ${messages[0].content}` }, ...messages.slice(1)]
  return [{ role: 'system', content: prePrompt }, ...messages]
}

/**
 * The one call that scores answers with a reward model (kept alone so the reward stage's shared
 * scorer can replace it): each conversation, answer included, encoded with the reward model's own
 * tokenizer and chat template, cut to its context, scored at its last real token.
 */
export async function scoreWithRewardModel(rm: LoadedModel, conversations: ChatMessage[][]): Promise<number[]> {
  return await scoreResponses(rm, rm.tokenizer, conversations)
}

const ARTIFACT_FILE = 'distillation.jsonl'
const TRAINING_FILE = 'distilled_sft.jsonl'

export const contextDistillationStage = defineStage({
  name: 'context_distillation',
  title: 'Context distillation (safety)',
  description:
    'Answers prompts with a safety pre-prompt in front, then fine-tunes on the answers without it, so the model is safe without being told. ' +
    'Targeted: adversarial prompts only, keeping an answer only when the safety reward model prefers it to the answer without the pre-prompt.',
  schema,
  presets: {
    tiny: { lr: 1e-3, batch_size: 8, epochs: 4, warmup_steps: 5, max_new_tokens: 48 },
  },
  parents: [
    { role: 'base', key: 'base', required: true },
    { role: 'rm_safety', key: 'rm_safety' },
  ],
  cli: {
    command: 'distill',
    summary: 'distill --base <run|ckpt> --prompts <f> [--targeted --rm-safety <run>]  safety context distillation',
    usage: [
      'Usage: workbench distill --base <run|checkpoint> --prompts <file.jsonl> [--targeted --rm-safety <run|checkpoint>] [options]',
      '',
      'Answers each prompt with a safety pre-prompt in front (plus its risk category\'s answer template), then fine-tunes',
      'on the answers with the pre-prompt removed. --targeted uses adversarial prompts only and keeps an answer only when',
      'the safety reward model scores it above the answer without the pre-prompt. Results: distillation.jsonl (every',
      'prompt, both answers, both scores, kept or not) and distilled_sft.jsonl (the training data) in the run folder.',
    ].join('\n'),
    flags: { base: 'base', prompts: 'prompts', targeted: 'targeted', 'rm-safety': 'rm_safety' },
  },
  precheck: (config) => {
    precheckPrompts(config.prompts)
    precheckSft(config.mix_data, config.skip_invalid)
  },
  estimate: (config, from) => finetuningEstimate(config, from, { notes: ['the fine-tuning step; sampling the answers first needs less'] }),
  run: runContextDistillation,
})

async function runContextDistillation(ctx: StageContext, config: ContextDistillationConfig): Promise<StageResult> {
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('context_distillation needs a base model: set base=<run id or checkpoint folder>')
  const trainingFile = path.join(ctx.runDir, TRAINING_FILE)
  const { model, tokenizer } = loadModel(baseDir, { maxSeqLen: config.seq_len })
  try {
    let counts: DistillationCounts | undefined
    if (ctx.resumeFrom && fs.existsSync(trainingFile)) {
      ctx.log(`resuming: training on the answers distilled before (${trainingFile})`)
    } else {
      counts = await distil(ctx, config, model, tokenizer, trainingFile)
    }
    if (config.mix_data.length > 0) ctx.log(`context_distillation: learning the distilled answers beside ${config.mix_data.join(', ')}`)
    const result = await fineTuneOnChatFiles(ctx, { model, tokenizer, baseDir, files: [trainingFile, ...config.mix_data], config, stage: 'context_distillation' })
    return { ...result, summary: { ...result.summary, ...(counts ? { distill_prompts: counts.prompts, distill_kept: counts.kept, distill_dropped: counts.dropped } : {}) } }
  } finally {
    model.dispose()
  }
}

interface DistillationCounts {
  prompts: number
  kept: number
  dropped: number
  /** Answers cut at max_new_tokens that would have been kept otherwise. */
  cut: number
}

/** Generates the answers, filters them (targeted), writes both files and records the counts. */
async function distil(ctx: StageContext, config: ContextDistillationConfig, model: Llama, tokenizer: Tokenizer, trainingFile: string): Promise<DistillationCounts> {
  const all = config.prompts.flatMap((file) => readPromptSet(file).items)
  const eligible = config.targeted ? all.filter(isAdversarial) : all
  const items = config.max_prompts > 0 ? eligible.slice(0, config.max_prompts) : eligible
  if (items.length === 0) throw new Error(`context_distillation: no ${config.targeted ? 'adversarial ' : ''}prompts in ${config.prompts.join(', ')} (a prompt is adversarial when its "kind" is "adversarial", or it has no kind and a "category")`)
  ctx.log(`context_distillation: ${items.length} prompts${config.targeted ? ` (targeted: ${all.length - eligible.length} non-adversarial skipped)` : ''}`)

  const answer = (messages: ChatMessage[], i: number) =>
    chatAnswer(model, tokenizer, messages, { maxNewTokens: config.max_new_tokens, temperature: config.temperature, seed: ctx.seed + i, signal: ctx.signal })
  const records: DistillationRecord[] = []
  for (const [i, item] of items.entries()) {
    if (ctx.signal.aborted) throw new Error('context_distillation: stopped while generating the answers (nothing to resume from yet)')
    const withPre = await answer(withPrePrompt(item.messages, prePromptFor(item, config)), i)
    // Its own sampling stream: two draws with one seed from nearly equal distributions would
    // mostly give the same tokens (the sampler walks the ids in order).
    const without = config.targeted ? await answer(item.messages, items.length + i) : undefined
    records.push({
      id: item.id,
      category: item.category ?? null,
      prompt: item.prompt,
      answer_with_preprompt: withPre?.text ?? '',
      ...(withPre && !withPre.finished ? { unfinished: true as const } : {}),
      ...(config.targeted ? { answer_without: without?.text ?? '' } : {}),
      kept: Boolean(withPre?.text),
    })
    ctx.progress({ step: i + 1, totalSteps: items.length, message: 'generating answers' })
  }
  const noRoom = records.filter((r) => !r.kept).length
  if (noRoom > 0) ctx.tracker.logEvent('warning', `${noRoom} prompt(s) with the pre-prompt left no room for an answer in the model's context (or the answer was empty); they are dropped`)
  if (config.targeted) await keepImprovedAnswers(ctx, config, items, records)
  const cut = applyCutRule(records, config.cut_answers)

  const kept = records.filter((r) => r.kept)
  const counts = { prompts: records.length, kept: kept.length, dropped: records.length - kept.length, cut }
  const artifact = path.join(ctx.runDir, ARTIFACT_FILE)
  fs.mkdirSync(ctx.runDir, { recursive: true })
  fs.writeFileSync(artifact, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
  ctx.tracker.logArtifact({ kind: 'distillation', path: artifact, meta: counts })
  ctx.tracker.logParams({ distill_prompts: counts.prompts, distill_kept: counts.kept, distill_dropped: counts.dropped, distill_cut: counts.cut, distill_targeted: config.targeted })
  ctx.log(`context_distillation: kept ${counts.kept} of ${counts.prompts} answers, dropped ${counts.dropped} (${counts.cut} cut at max_new_tokens=${config.max_new_tokens}${config.cut_answers === 'drop' ? ', dropped' : ', learned as prefixes'})`)
  if (kept.length === 0) {
    const why = cut > 0 && config.cut_answers === 'drop'
      ? `the ${cut} answer(s) otherwise kept were cut at max_new_tokens=${config.max_new_tokens}: raise it, or set cut_answers=prefix`
      : config.targeted ? 'the safety reward model preferred none of the pre-prompted answers' : 'all answers were empty'
    throw new Error(`context_distillation: no answer kept out of ${records.length} (${why}); see ${artifact}`)
  }
  const byId = new Map(items.map((item) => [item.id, item]))
  // A distilled answer cut at max_new_tokens is learned without its end-of-turn token (SFT's `unfinished`).
  const lines = kept.map((r) => JSON.stringify({ messages: [...byId.get(r.id)!.messages, { role: 'assistant', content: r.answer_with_preprompt }], ...(r.unfinished ? { unfinished: true } : {}) }))
  fs.writeFileSync(trainingFile, lines.join('\n') + '\n')
  ctx.tracker.logArtifact({ kind: 'sft_data', path: trainingFile, meta: { examples: kept.length } })
  return counts
}

/**
 * Answers cut at max_new_tokens: with 'drop' they are not kept; with 'prefix' they stay (and are
 * learned without the end-of-turn token). Returns how many kept answers were cut. A cut answer is
 * a prefix: the safety RM judged only its start, and learned as complete it teaches stopping
 * mid-answer. Measured (default demo, seed 1234, 37 of 126 kept answers cut): dropped, violations
 * 77.5% -> 30.5%; as prefixes 51.5%; as complete answers (before) 41.5%.
 */
export function applyCutRule(records: DistillationRecord[], rule: 'drop' | 'prefix'): number {
  const cut = records.filter((r) => r.kept && r.unfinished).length
  if (rule === 'drop') for (const r of records) if (r.unfinished) r.kept = false
  return cut
}

/** Targeted: scores both answers of every prompt with the safety RM; keeps the pre-prompted one only when it scores higher. */
async function keepImprovedAnswers(ctx: StageContext, config: ContextDistillationConfig, items: PromptItem[], records: DistillationRecord[]): Promise<void> {
  const rmDir = parentCheckpoint(ctx, 'rm_safety', config.rm_safety, 'rm_safety')
  if (!rmDir) throw new Error('context_distillation: targeted needs the safety reward model (rm_safety)')
  const rm = loadModel(rmDir, { heads: ['reward'], scoringOnly: true })
  try {
    const reply = (i: number, answer: string): ChatMessage[] => [...items[i].messages, { role: 'assistant', content: answer }]
    const withScores = await scoreWithRewardModel(rm, records.map((r, i) => reply(i, r.answer_with_preprompt)))
    const withoutScores = await scoreWithRewardModel(rm, records.map((r, i) => reply(i, r.answer_without ?? '')))
    records.forEach((r, i) => {
      r.score_with = withScores[i]
      r.score_without = withoutScores[i]
      r.kept = r.kept && withScores[i] > withoutScores[i]
    })
  } finally {
    rm.dispose()
  }
}
