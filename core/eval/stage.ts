// The `gold_eval` stage: load a checkpoint, answer gold-checked prompt sets greedily, score the
// answers with the rule-based gold judges (core/eval/gold.ts), and record metrics, one sample per
// prompt and a JSON report. The demo pipeline runs it on the base and the SFT model; any prompt
// set in the gold JSONL format works (e.g. the demo export's eval_tasks / adversarial / benign).

import fs from 'node:fs'
import path from 'node:path'
import { writingFile } from '../util/files'
import type { ConfigField } from '../config/schema'
import { chatStopTokens, encodeChatPrompt } from '../data/chatTemplate'
import { loadCheckpoint } from '../model/checkpoint'
import { generate } from '../model/generate'
import { Llama } from '../model/llama'
import { Tokenizer } from '../tokenizer'
import type { StageContext, StageDefinition, StageResult } from '../train/stages/types'
import { judgeResponse, parseGoldItems, summariseGold, type GoldItem, type GoldResult } from './gold'

const FIELDS: ConfigField[] = [
  { key: 'model', type: 'string', pathKind: 'checkpoint', optional: true, group: 'model', help: 'The model to evaluate: a run id or a checkpoint folder (a parent run with role "model" does the same).' },
  { key: 'tasks', type: 'path', optional: true, group: 'data', help: 'Gold-checked task prompts (JSONL with gold.check), e.g. the demo export\'s eval_tasks.jsonl.' },
  { key: 'adversarial', type: 'path', optional: true, group: 'data', help: 'Adversarial prompts with gold safety rules (violation rate).' },
  { key: 'benign', type: 'path', optional: true, group: 'data', help: 'Benign look-alike prompts (false-refusal rate).' },
  { key: 'max_items', type: 'int', default: 0, min: 0, group: 'data', help: 'Evaluate at most this many items per set (0 = all).' },
  { key: 'max_new_tokens', type: 'int', default: 64, min: 1, group: 'generation', help: 'New tokens per answer (greedy decoding; generation stops at the end-of-turn token).' },
  { key: 'label', type: 'string', optional: true, group: 'run', help: 'A name for the evaluated model in reports, e.g. "base" or "sft".' },
]

export const goldEvalStage: StageDefinition = {
  name: 'gold_eval',
  title: 'Gold-judge evaluation',
  description:
    'Answers gold-checked prompt sets greedily with a checkpoint and scores the answers with rule-based judges: ' +
    'task accuracy and helpfulness, violation rate on adversarial prompts, false-refusal rate on benign ones.',
  fields: FIELDS,
  presets: { quick: { max_items: 20, max_new_tokens: 48 } },
  parentRoles: ['model'],
  run: runGoldEval,
}

/** The three prompt sets by role; each present file is read and checked before any generation. */
function readSets(config: Record<string, unknown>): GoldItem[] {
  const files = (['tasks', 'adversarial', 'benign'] as const).map((key) => config[key]).filter((f): f is string => typeof f === 'string' && f !== '')
  if (files.length === 0) throw new Error('gold_eval: give at least one prompt set (tasks, adversarial or benign)')
  const maxItems = config.max_items as number
  return files.flatMap((file) => {
    if (!fs.existsSync(file)) throw new Error(`gold_eval: prompt set ${file} does not exist`)
    const items = parseGoldItems(fs.readFileSync(file, 'utf8'), file)
    return maxItems > 0 ? items.slice(0, maxItems) : items
  })
}

function checkpointFor(ctx: StageContext, config: Record<string, unknown>): string {
  const parent = ctx.parents.find((p) => p.role === 'model' && p.checkpointDir)
  const dir = parent?.checkpointDir ?? (config.model as string | undefined)
  if (!dir) throw new Error('gold_eval: no model to evaluate (set "model" to a checkpoint folder, or give a parent run with role "model")')
  if (!fs.existsSync(dir)) throw new Error(`gold_eval: model ${dir} does not exist`)
  return dir
}

/** Loads the model and its tokenizer from a checkpoint folder. */
function loadModel(dir: string): { model: Llama; tokenizer: Tokenizer } {
  const loaded = loadCheckpoint(dir)
  try {
    if (!loaded.tokenizerPath) throw new Error(`gold_eval: checkpoint ${dir} has no tokenizer.json`)
    const tokenizer = Tokenizer.load(loaded.tokenizerPath)
    const model = Llama.fromWeights(loaded.config, loaded.tensors)
    return { model, tokenizer }
  } finally {
    loaded.dispose()
  }
}

/** The prompt ids for an item, and how many new tokens fit in the model's context after it. */
function promptFor(tokenizer: Tokenizer, item: GoldItem, maxSeq: number, maxNew: number): { ids: number[]; maxNew: number } {
  let ids = encodeChatPrompt(tokenizer, item.messages)
  // Keep room for at least a short answer: drop the oldest prompt tokens (after BOS) if needed.
  const room = Math.min(maxNew, Math.max(8, maxSeq - ids.length))
  if (ids.length + room > maxSeq) ids = [ids[0], ...ids.slice(ids.length - (maxSeq - room - 1))]
  return { ids, maxNew: room }
}

async function runGoldEval(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult> {
  const items = readSets(config)
  const dir = checkpointFor(ctx, config)
  const { model, tokenizer } = loadModel(dir)
  const stopIds = chatStopTokens(tokenizer)
  const maxNew = config.max_new_tokens as number
  const results: GoldResult[] = []
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
  } finally {
    model.dispose()
  }
  const metrics = summariseGold(results)
  ctx.tracker.logMetrics(0, metrics)
  const report = writeReport(ctx.runDir, dir, config, metrics, results)
  ctx.tracker.logArtifact({ kind: 'report', path: report, meta: { items: results.length } })
  ctx.tracker.flush()
  const summary: Record<string, number | string | boolean> = { items: results.length, model: dir }
  if (typeof config.label === 'string') summary.label = config.label
  for (const [key, value] of Object.entries(metrics)) summary[key.replace(/^eval\//, '')] = round4(value)
  return { summary, stopped: ctx.signal.aborted }
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

function writeReport(runDir: string, model: string, config: Record<string, unknown>, metrics: Record<string, number>, results: GoldResult[]): string {
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
