// Stage `winrate`: model A against model B on one prompt set (Llama 2 section 3.4, RECIPE.md
// section 8). Both models answer every prompt (greedy by default, or at a temperature, with the
// same seeds), and a judge decides each pair:
//   - `reward`: a reward model scores both answers; a tie when they differ by less than tie_margin;
//   - `gold`: the demo world's gold helpfulness judge, for prompts that carry a gold item;
//   - `human`: the pairs are written for people to judge blind in the app (the Win rate screen,
//     seven-point scale); the figures come from their judgements (core/tracking/winrateJudgements.ts).
// Reward and gold judges see each pair in both orders: the verdict of a randomly chosen order is
// the outcome, and how often the other order disagrees is `winrate/swap_flip_rate`.
// Recorded (step 0): winrate/win, /tie, /loss, /win_rate (ties half) and /lc_win (length-controlled),
// each with _lo/_hi (bootstrap 95%, seeded), winrate/swap_flip_rate, winrate/n; one sample per
// prompt; the pairs and verdicts as winrate_pairs.jsonl (artifact kind 'winrate_pairs').
import { readJsonLines } from '../../util/jsonl'
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { chatStopTokens, encodeChatPrompt } from '../../data/chatTemplate'
import { readPromptSet, type PromptItem } from '../../data/prompts'
import { goldHelpfulness, type GoldItem } from '../../eval/gold'
import { scoreConversations } from '../../eval/rewardScore'
import { outcomeOf, swapFlipRate, winRateFigures, type Outcome, type WinRateFigures } from '../../eval/winrate'
import { generateBatch } from '../../model/generate'
import type { Llama } from '../../model/llama'
import { loadModel } from '../../model/load'
import type { Tokenizer } from '../../tokenizer'
import { goldItemOf } from '../../rl/prompts'
import { mulberry32 } from '../../util/random'
import { parentCheckpoint } from './common'
import { defineStage, type StageContext, type StageResult } from './types'

const schema = z
  .object({
    model_a: z.string().optional().meta({ group: 'model', path: 'model', help: 'Model A: a run id or a checkpoint folder.' }),
    model_b: z.string().optional().meta({ group: 'model', path: 'model', help: 'Model B, the one A is compared against: a run id or a checkpoint folder.' }),
    prompts: z.string().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Prompts (JSONL: prompt, optional id, messages; a gold field for judge=gold, e.g. the demo export\'s eval_tasks.jsonl).' }),
    judge: z.enum(['reward', 'gold', 'human']).default('reward').meta({ group: 'judge', help: 'Who decides each pair: a reward model (rm), the demo world\'s gold judges, or people in the app.' }),
    rm: z.string().optional().meta({ group: 'judge', path: 'model', help: 'The reward model for judge=reward: a reward run id or folder.' }),
    tie_margin: z.number().min(0).default(0.1).meta({ group: 'judge', help: 'A tie when the two scores differ by less than this (reward model units, or gold helpfulness 0..1).' }),
    temperature: z.number().min(0).max(5).default(0).meta({ group: 'generation', help: 'Sampling temperature for both models (0 = greedy).' }),
    max_new_tokens: z.number().int().min(1).default(64).meta({ group: 'generation', help: 'New tokens per answer (it stops at the end-of-turn token).' }),
    max_prompts: z.number().int().min(0).default(0).meta({ group: 'data', help: 'Use at most this many prompts (0 = all).' }),
    bootstrap: z.number().int().min(10).default(1000).meta({ group: 'judge', help: 'Bootstrap resamples for the 95% intervals (seeded by the run seed).' }),
  })
  .strict()

export type WinrateConfig = z.output<typeof schema>

/** One prompt's pair, as written to winrate_pairs.jsonl (and shown to people, A's side hidden). */
export interface WinratePair {
  index: number
  id: string
  prompt: string
  messages: PromptItem['messages']
  answer_a: string
  answer_b: string
  /** Answer lengths in tokens (for the length-controlled win rate). */
  tokens_a: number
  tokens_b: number
  /** The side A is shown on to people (random, seeded); for machine judges, the order that decides. */
  a_first: boolean
  score_a?: number
  score_b?: number
  /** A's outcome (1 win, 0.5 tie, 0 loss); absent until judged. */
  outcome?: Outcome
  /** A's outcome in the other order (machine judges only). */
  outcome_swapped?: Outcome
}

export const PAIRS_ARTIFACT = 'winrate_pairs'

// ---------------------------------------------------------------------------------------------
// Generation: the ONE place answers are generated (the temperature sweep uses it too)

export interface Answer {
  text: string
  tokens: number
}

/**
 * One answer per (prompt, seed): row i answers prompts[i] with seeds[i] (greedy when temperature
 * is 0). Prompts are generated in batches of `batchSize` rows; the answer budget is cut so the
 * prompt and answer fit the model's context.
 */
export async function answerPrompts(
  model: Llama,
  tokenizer: Tokenizer,
  prompts: PromptItem[],
  opts: { seeds: number[]; temperature: number; maxNewTokens: number; batchSize?: number; signal?: AbortSignal },
): Promise<Answer[]> {
  const batchSize = opts.batchSize ?? 8
  const stopIds = chatStopTokens(tokenizer)
  const out: Answer[] = []
  for (let start = 0; start < prompts.length; start += batchSize) {
    const chunk = prompts.slice(start, start + batchSize)
    const encoded = chunk.map((p) => encodeChatPrompt(tokenizer, p.messages))
    const budgets = encoded.map((ids, i) => {
      const room = model.config.max_seq_len - ids.length
      if (room < 1) throw new Error(`prompt ${chunk[i].source}: ${ids.length} tokens leave no room for an answer in the model's context of ${model.config.max_seq_len}`)
      return Math.min(opts.maxNewTokens, room)
    })
    const rows = await generateBatch(model, encoded, { maxNewTokens: budgets, temperature: opts.temperature, stopIds, seeds: opts.seeds.slice(start, start + batchSize), signal: opts.signal })
    for (const row of rows) out.push({ text: tokenizer.decode(row.ids, { skipSpecial: true }).trim(), tokens: row.ids.length })
  }
  return out
}

/** The answers of the model in `dir` (loaded, used, freed). */
async function answersOf(dir: string, prompts: PromptItem[], config: WinrateConfig, seed: number, signal: AbortSignal): Promise<Answer[]> {
  const { model, tokenizer } = loadModel(dir)
  try {
    return await answerPrompts(model, tokenizer, prompts, { seeds: prompts.map((_, i) => seed + i), temperature: config.temperature, maxNewTokens: config.max_new_tokens, signal })
  } finally {
    model.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Judging

/**
 * A judge that scores each (prompt, answer) on its own; listing the answers in both orders (see
 * judgePairs) shows whether its verdicts depend on position. A pointwise judge is order-blind, so
 * its flips measure only numerical noise (batch composition); the seam is here for judges that see both.
 */
type PointwiseJudge = (pairs: { item: PromptItem; answer: string }[]) => Promise<number[]>

function rewardJudge(rmDir: string): PointwiseJudge {
  return async (rows) => {
    const rm = loadModel(rmDir, { heads: ['reward'], scoringOnly: true })
    try {
      const head = rm.heads.reward
      if (!head) throw new Error(`rm ${rmDir}: not a reward model (no score.weight head)`)
      return await scoreConversations({ model: rm.model, head }, rm.tokenizer, rows.map((r) => ({ messages: r.item.messages, answer: r.answer })))
    } finally {
      rm.dispose()
    }
  }
}

function goldJudge(gold: Map<string, GoldItem>): PointwiseJudge {
  return async (rows) => rows.map((r) => goldHelpfulness(gold.get(r.item.id)!, r.answer))
}

/** Judges every pair in both orders and fills in the scores and outcomes (A's side). */
export async function judgePairs(pairs: WinratePair[], items: PromptItem[], judge: PointwiseJudge, tieMargin: number): Promise<void> {
  // Both orders in one call, A-first pairs then B-first pairs, as two separate listings.
  const firstOrder = await judge(pairs.flatMap((p, i) => [{ item: items[i], answer: p.answer_a }, { item: items[i], answer: p.answer_b }]))
  const swapped = await judge(pairs.flatMap((p, i) => [{ item: items[i], answer: p.answer_b }, { item: items[i], answer: p.answer_a }]))
  pairs.forEach((p, i) => {
    const aFirst = outcomeOf(firstOrder[2 * i], firstOrder[2 * i + 1], tieMargin)
    const bFirst = outcomeOf(swapped[2 * i + 1], swapped[2 * i], tieMargin)
    p.score_a = p.a_first ? firstOrder[2 * i] : swapped[2 * i + 1]
    p.score_b = p.a_first ? firstOrder[2 * i + 1] : swapped[2 * i]
    p.outcome = p.a_first ? aFirst : bFirst
    p.outcome_swapped = p.a_first ? bFirst : aFirst
  })
}

/** The metrics of judged pairs (names as in the header). */
export function winrateMetrics(figures: WinRateFigures, flipRate?: number): Record<string, number> {
  const out: Record<string, number> = { 'winrate/n': figures.counts.n }
  const put = (name: string, v: { value: number; lo: number; hi: number }) => {
    out[`winrate/${name}`] = v.value
    out[`winrate/${name}_lo`] = v.lo
    out[`winrate/${name}_hi`] = v.hi
  }
  put('win', figures.win)
  put('tie', figures.tie)
  put('loss', figures.loss)
  put('win_rate', figures.winRate)
  put('lc_win', figures.lcWin)
  if (flipRate !== undefined && Number.isFinite(flipRate)) out['winrate/swap_flip_rate'] = flipRate
  return out
}

export function readPairs(file: string): WinratePair[] {
  return readJsonLines<WinratePair>(file)
}

// ---------------------------------------------------------------------------------------------
// The run

/** The prompts to use, and for judge=gold the gold item of each (prompts without one are an error). */
function promptsFor(config: WinrateConfig): { items: PromptItem[]; gold: Map<string, GoldItem> } {
  const all = readPromptSet(config.prompts).items
  const items = config.max_prompts > 0 ? all.slice(0, config.max_prompts) : all
  const gold = new Map<string, GoldItem>()
  if (config.judge === 'gold') {
    for (const item of items) {
      const g = goldItemOf(item)
      if (!g) throw new Error(`winrate: judge=gold needs a gold field on every prompt; ${item.source} (id ${item.id}) has none`)
      gold.set(item.id, g)
    }
  }
  return { items, gold }
}

async function run(ctx: StageContext, config: WinrateConfig): Promise<StageResult> {
  const dirA = parentCheckpoint(ctx, 'model_a', config.model_a, 'model_a')
  const dirB = parentCheckpoint(ctx, 'model_b', config.model_b, 'model_b')
  if (!dirA || !dirB) throw new Error('winrate needs two models: set model_a and model_b (run ids or checkpoint folders)')
  const rmDir = parentCheckpoint(ctx, 'judge', config.rm, 'rm')
  if (config.judge === 'reward' && !rmDir) throw new Error('winrate: judge=reward needs a reward model: set rm=<reward run id or folder>')
  const { items, gold } = promptsFor(config)

  ctx.log(`winrate: ${items.length} prompts, A = ${dirA}, B = ${dirB}, judge = ${config.judge}`)
  ctx.progress({ step: 0, totalSteps: 3, message: 'answering with model A' })
  const answersA = await answersOf(dirA, items, config, ctx.seed * 1_000_003, ctx.signal)
  if (ctx.signal.aborted) return { stopped: true, summary: {} }
  ctx.progress({ step: 1, totalSteps: 3, message: 'answering with model B' })
  const answersB = await answersOf(dirB, items, config, ctx.seed * 1_000_003, ctx.signal) // the same seeds: common random numbers
  if (ctx.signal.aborted) return { stopped: true, summary: {} }

  const rand = mulberry32(ctx.seed + 17)
  const pairs: WinratePair[] = items.map((item, i) => ({
    index: i,
    id: item.id,
    prompt: item.prompt,
    messages: item.messages,
    answer_a: answersA[i].text,
    answer_b: answersB[i].text,
    tokens_a: answersA[i].tokens,
    tokens_b: answersB[i].tokens,
    a_first: rand() < 0.5,
  }))

  const summary: Record<string, number | string | boolean> = { prompts: items.length, judge: config.judge }
  if (config.judge !== 'human') {
    ctx.progress({ step: 2, totalSteps: 3, message: 'judging' })
    await judgePairs(pairs, items, config.judge === 'reward' ? rewardJudge(rmDir!) : goldJudge(gold), config.tie_margin)
    const outcomes = pairs.map((p) => p.outcome!)
    const figures = winRateFigures(outcomes, pairs.map((p) => p.tokens_a - p.tokens_b), { seed: ctx.seed, reps: config.bootstrap })
    const metrics = winrateMetrics(figures, swapFlipRate(outcomes, pairs.map((p) => p.outcome_swapped!)))
    ctx.tracker.logMetrics(0, metrics)
    for (const [key, value] of Object.entries(metrics)) summary[key.replace(/^winrate\//, '')] = Math.round(value * 10000) / 10000
  } else {
    summary.awaiting_judgements = pairs.length
    ctx.log(`winrate: ${pairs.length} pairs wait for people's judgements (the app's Win rate screen)`)
  }
  for (const p of pairs) {
    ctx.tracker.logSample({
      step: 0,
      prompt: p.prompt,
      response: `A: ${p.answer_a}\n\nB: ${p.answer_b}`,
      scores: p.outcome === undefined ? {} : { outcome: p.outcome, score_a: p.score_a!, score_b: p.score_b! },
    })
  }
  const file = path.join(ctx.runDir, 'winrate_pairs.jsonl')
  fs.mkdirSync(ctx.runDir, { recursive: true })
  fs.writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n')
  ctx.tracker.logArtifact({ kind: PAIRS_ARTIFACT, path: file, meta: { pairs: pairs.length, judge: config.judge } })
  ctx.tracker.flush()
  ctx.progress({ step: 3, totalSteps: 3 })
  return { summary }
}

function precheck(config: WinrateConfig): void {
  promptsFor(config)
  if (config.judge === 'reward' && !config.rm) throw new Error('winrate: judge=reward needs a reward model: set rm=<reward run id or folder> (--rm)')
}

export const winrateStage = defineStage({
  name: 'winrate',
  title: 'Win rate',
  description:
    'Model A against model B on a prompt set, judged by a reward model, the gold judges or people (blind, seven-point scale): ' +
    'win / tie / loss with bootstrap 95% intervals, the length-controlled win rate and how often a verdict flips when the answers swap places.',
  schema,
  presets: { quick: { max_prompts: 20, max_new_tokens: 48, bootstrap: 200 } },
  parents: [
    { role: 'model_a', key: 'model_a', required: true },
    { role: 'model_b', key: 'model_b', required: true },
    { role: 'judge', key: 'rm' },
  ],
  cli: {
    command: 'winrate',
    summary: 'winrate --a <run> --b <run> --prompts <f> --judge reward --rm <run>  A against B',
    usage: [
      'Usage: workbench winrate --a <run|checkpoint> --b <run|checkpoint> --prompts <file.jsonl> [--judge reward|gold|human] [--rm <run>] [options]',
      '',
      'Both models answer every prompt; a reward model, the gold judges or people decide each pair. Figures: win / tie / loss',
      'with bootstrap 95% intervals, the length-controlled win rate, the swap flip rate. `workbench leaderboard` ranks',
      'every model compared so far.',
    ].join('\n'),
    flags: { a: 'model_a', b: 'model_b', prompts: 'prompts', judge: 'judge', rm: 'rm', 'tie-margin': 'tie_margin', temperature: 'temperature' },
  },
  precheck,
  run,
})
