// The `gold_eval` stage: load a checkpoint, answer gold-checked prompt sets greedily, score the
// answers with the rule-based gold judges (core/eval/gold.ts), and record metrics, one sample per
// prompt and a JSON report. The demo pipeline runs it on the base and the SFT model; any prompt
// set in the gold JSONL format works (e.g. the demo export's eval_tasks / adversarial / benign).

import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { writingFile } from '../util/files'
import { chatStopTokens, encodeChatPrompt } from '../data/chatTemplate'
import { generate } from '../model/generate'
import { loadModel } from '../model/load'
import type { Tokenizer } from '../tokenizer'
import { precheckLines } from '../train/stages/precheck'
import { defineStage, type StageContext, type StageResult } from '../train/stages/types'
import { readPromptSet, type PromptItem } from '../data/prompts'
import type { Llama } from '../model/llama'
import { parentCheckpoint } from '../train/stages/common'
import { answerPrompts } from '../train/stages/winrate'
import { normaliseAnswer, referenceScore, type ReferenceScore } from './references'
import { scoreConversations } from './rewardScore'
import { judgeResponse, parseGoldItems, summariseGold, type GoldItem, type GoldResult } from './gold'

const schema = z
  .object({
    model: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model to evaluate: a run id or a checkpoint folder (a parent run with role "model" does the same).' }),
    tasks: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Gold-checked task prompts (JSONL with gold.check), e.g. the demo export\'s eval_tasks.jsonl.' }),
    adversarial: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Adversarial prompts with gold safety rules (violation rate).' }),
    benign: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Benign look-alike prompts (false-refusal rate).' }),
    references: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Your own prompts with reference answers (JSONL: prompt or messages, reference): exact-match and contains scores (and reward with rm).' }),
    rm: z.string().optional().meta({ group: 'model', path: 'model', help: 'A reward model to score the answers to the references set with (optional): a reward run id or folder.' }),
    max_items: z.number().int().min(0).default(0).meta({ group: 'data', help: 'Evaluate at most this many items per set (0 = all).' }),
    max_new_tokens: z.number().int().min(1).default(64).meta({ group: 'generation', help: 'New tokens per answer (greedy decoding; generation stops at the end-of-turn token).' }),
    label: z.string().optional().meta({ group: 'run', help: 'A name for the evaluated model in reports, e.g. "base" or "sft".' }),
  })
  .strict()

type GoldEvalConfig = z.output<typeof schema>

const SET_KEYS = ['tasks', 'adversarial', 'benign'] as const

export const goldEvalStage = defineStage({
  name: 'gold_eval',
  title: 'Gold-judge evaluation',
  description:
    'Answers gold-checked prompt sets greedily with a checkpoint and scores the answers with rule-based judges: ' +
    'task accuracy and helpfulness, violation rate on adversarial prompts, false-refusal rate on benign ones.',
  schema,
  presets: { quick: { max_items: 20, max_new_tokens: 48 } },
  parents: [
    { role: 'model', key: 'model', required: true },
    { role: 'judge', key: 'rm' },
  ],
  cli: {
    command: 'gold-eval',
    summary: 'gold-eval --model <run|ckpt> --tasks <f> score a model with the gold judges',
    usage: [
      'Usage: workbench gold-eval --model <run|checkpoint> [--tasks f.jsonl] [--adversarial f.jsonl] [--benign f.jsonl] [--references f.jsonl [--rm <run>]] [options]',
      '',
      'Answers each prompt set greedily and scores the answers with the rule-based gold judges; give at least one set',
      "(e.g. the demo export's eval_tasks.jsonl, adversarial.jsonl, benign.jsonl). Results: metrics, one sample per",
      'prompt and gold_eval_report.json in the run folder. --references takes your own prompts with a "reference" answer',
      '(exact match, contains, and the reward model\'s score with --rm).',
    ].join('\n'),
    flags: { model: 'model', tasks: 'tasks', adversarial: 'adversarial', benign: 'benign', references: 'references', rm: 'rm', label: 'label' },
  },
  precheck,
  run: runGoldEval,
})

/** Before a run exists: at least one prompt set, and the head of each parses as gold items. */
function precheck(config: GoldEvalConfig): void {
  const files = setFiles(config)
  if (files.length === 0 && !config.references) throw new Error('gold_eval: give at least one prompt set (tasks, adversarial, benign or references)')
  for (const file of files) precheckLines(file, (head) => void parseGoldItems(head, file))
  if (config.references) readReferenceSet(config.references, config.max_items)
}

function setFiles(config: GoldEvalConfig): string[] {
  return SET_KEYS.map((key) => config[key]).filter((f): f is string => typeof f === 'string' && f !== '')
}

/** The three prompt sets by role; each present file is read and checked before any generation. */
function readSets(config: GoldEvalConfig): GoldItem[] {
  const files = setFiles(config)
  if (files.length === 0 && !config.references) throw new Error('gold_eval: give at least one prompt set (tasks, adversarial, benign or references)')
  const maxItems = config.max_items
  return files.flatMap((file) => {
    if (!fs.existsSync(file)) throw new Error(`gold_eval: prompt set ${file} does not exist`)
    const items = parseGoldItems(fs.readFileSync(file, 'utf8'), file)
    return maxItems > 0 ? items.slice(0, maxItems) : items
  })
}

function checkpointFor(ctx: StageContext, config: GoldEvalConfig): string {
  const parent = ctx.parents.find((p) => p.role === 'model' && p.checkpointDir)
  const dir = parent?.checkpointDir ?? config.model
  if (!dir) throw new Error('gold_eval: no model to evaluate (set "model" to a checkpoint folder, or give a parent run with role "model")')
  if (!fs.existsSync(dir)) throw new Error(`gold_eval: model ${dir} does not exist`)
  return dir
}

/** The prompt ids for an item, and how many new tokens fit in the model's context after it. */
function promptFor(tokenizer: Tokenizer, item: GoldItem, maxSeq: number, maxNew: number): { ids: number[]; maxNew: number } {
  let ids = encodeChatPrompt(tokenizer, item.messages)
  // Keep room for at least a short answer: drop the oldest prompt tokens (after BOS) if needed.
  const room = Math.min(maxNew, Math.max(8, maxSeq - ids.length))
  if (ids.length + room > maxSeq) ids = [ids[0], ...ids.slice(ids.length - (maxSeq - room - 1))]
  return { ids, maxNew: room }
}

async function runGoldEval(ctx: StageContext, config: GoldEvalConfig): Promise<StageResult> {
  const items = readSets(config)
  const dir = checkpointFor(ctx, config)
  const { model, tokenizer } = loadModel(dir)
  const stopIds = chatStopTokens(tokenizer)
  const maxNew = config.max_new_tokens
  const results: GoldResult[] = []
  let referenceRows: ReferenceRow[] | undefined
  const started = Date.now()
  ctx.log(`gold_eval: ${items.length} prompts, model ${dir}`)
  try {
    for (const item of items) {
      if (ctx.signal.aborted) break
      const prompt = promptFor(tokenizer, item, model.config.max_seq_len, maxNew)
      const out = await generate(model, prompt.ids, { maxNewTokens: prompt.maxNew, temperature: 0, stopIds, signal: ctx.signal })
      const result = judgeResponse(item, tokenizer.decode(out.ids).trim())
      results.push(result)
      ctx.tracker.logSample({ step: 0, prompt: promptText(item), response: result.response, scores: sampleScores(result) })
      const elapsed = (Date.now() - started) / 1000
      ctx.progress({
        step: results.length,
        totalSteps: items.length,
        etaSeconds: (elapsed / results.length) * (items.length - results.length),
        message: item.kind,
      })
    }
    if (config.references && !ctx.signal.aborted) referenceRows = await answerReferences(ctx, config, model, tokenizer)
  } finally {
    model.dispose()
  }
  const metrics = { ...summariseGold(results), ...(referenceRows ? await referenceMetrics(ctx, config, referenceRows) : {}) }
  ctx.tracker.logMetrics(0, metrics)
  const report = writeReport(ctx.runDir, dir, config, metrics, results)
  ctx.tracker.logArtifact({ kind: 'report', path: report, meta: { items: results.length } })
  ctx.tracker.flush()
  const summary: Record<string, number | string | boolean> = { items: results.length, model: dir }
  if (config.label !== undefined) summary.label = config.label
  for (const [key, value] of Object.entries(metrics)) summary[key.replace(/^eval\//, '')] = round4(value)
  return { summary, stopped: ctx.signal.aborted }
}

// ---------------------------------------------------------------------------------------------
// A user's prompts with reference answers

interface ReferenceRow {
  item: PromptItem
  reference: string
  answer: string
  score: ReferenceScore
}

/** Prompts whose lines carry a non-empty string `reference`; an error names the line that has none. */
function readReferenceSet(file: string, maxItems: number): { item: PromptItem; reference: string }[] {
  const items = readPromptSet(file).items
  const rows = items.map((item) => {
    const reference = item.extra.reference
    if (typeof reference !== 'string' || normaliseAnswer(reference) === '') throw new Error(`${item.source}: field "reference": expected the reference answer (a string with more than punctuation)`)
    return { item, reference }
  })
  return maxItems > 0 ? rows.slice(0, maxItems) : rows
}

/** Greedy answers to the references set, scored by exact match and contains; one sample each. */
async function answerReferences(ctx: StageContext, config: GoldEvalConfig, model: Llama, tokenizer: Tokenizer): Promise<ReferenceRow[]> {
  const set = readReferenceSet(config.references!, config.max_items)
  const answers = await answerPrompts(model, tokenizer, set.map((r) => r.item), { seeds: set.map(() => 0), temperature: 0, maxNewTokens: config.max_new_tokens, signal: ctx.signal })
  return set.map((r, i) => {
    const score = referenceScore(r.reference, answers[i].text)
    ctx.tracker.logSample({ step: 0, prompt: r.item.prompt, response: answers[i].text, scores: { reference_exact: Number(score.exact), reference_contains: Number(score.contains) } })
    return { ...r, answer: answers[i].text, score }
  })
}

/** eval/reference_exact and eval/reference_contains (shares), and eval/reference_reward with a reward model. */
async function referenceMetrics(ctx: StageContext, config: GoldEvalConfig, rows: ReferenceRow[]): Promise<Record<string, number>> {
  const share = (f: (r: ReferenceRow) => boolean) => rows.filter(f).length / rows.length
  const out: Record<string, number> = { 'eval/reference_exact': share((r) => r.score.exact), 'eval/reference_contains': share((r) => r.score.contains) }
  const rmDir = parentCheckpoint(ctx, 'judge', config.rm, 'rm')
  if (rmDir) {
    const rm = loadModel(rmDir, { heads: ['reward'], scoringOnly: true })
    try {
      const scores = await scoreConversations({ model: rm.model, head: rm.heads.reward! }, rm.tokenizer, rows.map((r) => ({ messages: r.item.messages, answer: r.answer })))
      out['eval/reference_reward'] = scores.reduce((a, b) => a + b, 0) / scores.length
    } finally {
      rm.dispose()
    }
  }
  return out
}

/** Multi-turn prompts are shown as their turns, so a sample is readable on its own. */
function promptText(item: GoldItem): string {
  if (item.messages.length === 1) return item.prompt
  return item.messages.map((m) => `${m.role}: ${m.content}`).join('\n')
}

function sampleScores(r: GoldResult): Record<string, number> {
  return {
    gold_helpfulness: round4(r.helpfulness),
    gold_correct: Number(r.correct),
    gold_unsafe: Number(r.safety === 'unsafe'),
    refusal: Number(r.refusal),
  }
}

function writeReport(runDir: string, model: string, config: GoldEvalConfig, metrics: Record<string, number>, results: GoldResult[]): string {
  const file = path.join(runDir, 'gold_eval_report.json')
  const rows = results.map((r) => ({
    id: r.item.id,
    kind: r.item.kind,
    category: r.item.category,
    prompt: r.item.prompt,
    response: r.response,
    reference: r.item.reference,
    helpfulness: round4(r.helpfulness),
    correct: r.correct,
    safety: r.safety,
    refusal: r.refusal,
  }))
  fs.mkdirSync(runDir, { recursive: true })
  const text = JSON.stringify({ model, label: config.label ?? null, metrics, items: rows }, null, 2) + '\n'
  writingFile(file, () => fs.writeFileSync(file, text))
  return file
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000
}
