// Stage `rejection_sampling`: Llama 2's rejection-sampling fine-tuning (section 3.2.3, RECIPE.md
// section 5). For each prompt, K answers are sampled from the policy at a temperature and scored
// by the reward model(s) with the combined reward rule; the best answer per prompt is kept, and
// the policy is fine-tuned on the kept answers with the SFT loss (fineTuneOnChat, shared with SFT).
//
// With `pool_previous` (the default, the paper's fix for regressions between rounds) the training
// set also holds the kept answers of every earlier round: the stage follows the policy's lineage
// back through earlier rejection_sampling runs and reads their selected-dataset artifacts; when two
// rounds answered the same prompt, the higher reward wins.
//
// Recorded: the paper's Figure 7 (rs/reward_max_at_k and rs/reward_median_at_k, step = k), the
// selected dataset (selected.jsonl, artifact kind 'rs_selected': prompt, kept answer and reward,
// runner-up and reward, round), each kept answer as a sample, and for prompts that carry a gold
// check (the demo world's) the gold judges' figures beside the proxy reward (gold/helpfulness,
// gold/violation_rate), and how often the reward orders two sampled answers to one prompt as the
// gold judges do (rs/rm_gold_agreement, summary rm_gold_agreement; 0.5 is chance), also per kind
// of prompt (rs/rm_gold_agreement_<kind> with rs/rm_gold_pairs_<kind>: fact, list, adversarial, ...).
// Beside the kept answers' gold: a random pick's (gold/helpfulness_sampled) and the gold-best pick's
// (gold/helpfulness_best_possible), summary gold_kept / gold_sampled / gold_best_possible: what
// selection by the reward gained over chance, and what a perfect reward could have kept.
import { readJsonLines } from '../../util/jsonl'
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { combinedReward } from '../../rl/reward'
import { goldItemOf, isSafetyPrompt, mixBySafetyShare, readRlhfPrompts, safetyMixShape, safetyShareOf } from '../../rl/prompts'
import { chatStopTokens, encodeChatPrompt, type ChatMessage } from '../../data/chatTemplate'
import type { PromptItem } from '../../data/prompts'
import { judgeResponse, summariseGold, type GoldResult } from '../../eval/gold'
import { rewardGoldAgreement, rewardGoldAgreementByKind, selectionHeadroom, type RewardedAnswers, type SelectionHeadroom } from '../../eval/goldAgreement'
import type { ChatAnswer } from '../../eval/chatAnswer'
import { scoreResponses } from '../../eval/rewardScore'
import { generateBatch } from '../../model/generate'
import type { Llama } from '../../model/llama'
import { loadModel } from '../../model/load'
import type { Tokenizer } from '../../tokenizer'
import { Store } from '../../tracking/store'
import { parentCheckpoint } from './common'
import { chatFineTuneShape, fineTuneOnChat, fineTuneSummary } from './sft'
import { finetuningEstimate } from './finetuning'
import { defineStage, type StageContext, type StageResult } from './types'

const schema = z
  .object({
    policy: z.string().optional().meta({ group: 'model', path: 'model', help: 'The policy to sample from and fine-tune: an SFT or earlier RLHF run id, or a checkpoint folder.' }),
    prompts: z.string().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Prompts (JSONL: prompt, optional id, messages, tags; a "safety" tag or a gold adversarial item marks a safety prompt).' }),
    ...safetyMixShape,
    rm_helpful: z.string().optional().meta({ group: 'model', path: 'model', help: 'The helpfulness reward model (a reward run id or folder). Give it, rm_safety, or both.' }),
    rm_safety: z.string().optional().meta({ group: 'model', path: 'model', help: 'The safety reward model (a reward run id or folder). Give it, rm_helpful, or both.' }),
    k: z.number().int().min(1).max(100).default(4).meta({ group: 'sampling', help: 'Answers sampled per prompt; the best by reward is kept (Llama 2: up to 10s, more is better, see Figure 7).' }),
    temperature: z.number().min(0).max(5).default(1.2).meta({ group: 'sampling', help: 'Sampling temperature (Llama 2 found 1.2-1.3 best for rejection sampling).' }),
    max_new_tokens: z.number().int().min(1).default(64).meta({ group: 'sampling', help: 'New tokens per sampled answer (it stops at the end-of-turn token).' }),
    max_prompts: z.number().int().min(0).default(0).meta({ group: 'sampling', help: 'Prompts per round (0 = all). Round r starts where round r-1 stopped, wrapping around (per pool with safety_prompt_share).' }),
    pool_previous: z.boolean().default(true).meta({ group: 'data', help: 'Train on the best answers of all earlier rounds too (the paper\'s fix for regressions); per prompt the higher reward wins.' }),
    ...chatFineTuneShape,
    val_fraction: chatFineTuneShape.val_fraction.unwrap().default(0).meta({ group: 'data', help: 'Share of kept answers held out for validation loss.' }),
    epochs: chatFineTuneShape.epochs.unwrap().default(2).meta({ group: 'schedule', help: 'Passes over the kept answers; sets max_steps unless max_steps is given.' }),
  })
  .strict()

export type RejectionSamplingConfig = z.output<typeof schema>

/** One kept answer: a line of selected.jsonl. `messages` ends with it, so the file is SFT data as it is. */
export interface SelectedAnswer {
  prompt_id: string
  prompt: string
  messages: ChatMessage[]
  answer: string
  reward: number
  runner_up: string | null
  runner_up_reward: number | null
  round: number
  gold_helpfulness?: number
  gold_safety?: 'safe' | 'unsafe'
  /**
   * True when the kept answer was cut at max_new_tokens: the SFT loader then learns it without the
   * end-of-turn token (encodeChat's openEnd), since fine-tuned as if complete it taught the default
   * demo's RS model to stop its stories mid-sentence (creative tasks 0.72 -> 0.58).
   */
  unfinished?: true
}

export interface ScoredAnswer {
  answer: string
  reward: number
  /** False when the answer was cut at max_new_tokens (absent: finished). */
  finished?: boolean
}

// ---------------------------------------------------------------------------------------------
// The reward

// ---------------------------------------------------------------------------------------------
// Selection and Figure 7

/** The best answer (highest reward; the first on a tie) and the runner-up (null for K = 1). */
export function selectBest(candidates: ScoredAnswer[]): { best: ScoredAnswer; runnerUp: ScoredAnswer | null } {
  if (candidates.length === 0) throw new Error('selectBest: no candidates')
  const order = candidates.map((_, i) => i).sort((a, b) => candidates[b].reward - candidates[a].reward || a - b)
  return { best: candidates[order[0]], runnerUp: order.length > 1 ? candidates[order[1]] : null }
}

/** log C(n, r), for the order-statistic weights (exact enough for n up to a few hundred). */
function logChoose(n: number, r: number): number {
  if (r < 0 || r > n) return -Infinity
  let s = 0
  for (let i = 1; i <= r; i++) s += Math.log(n - r + i) - Math.log(i)
  return s
}

/**
 * The expected j-th smallest of k answers drawn without replacement from the K sampled ones
 * (1 <= j <= k <= K): sum_i r_(i) C(i-1, j-1) C(K-i, k-j) / C(K, k), r sorted ascending. For
 * j = k it is the expected best of k; it does not depend on the order the answers were sampled in.
 */
export function expectedOrderStatistic(rewards: number[], k: number, j: number): number {
  const K = rewards.length
  if (!(Number.isInteger(k) && k >= 1 && k <= K && Number.isInteger(j) && j >= 1 && j <= k)) throw new Error(`expectedOrderStatistic: need 1 <= j <= k <= ${K}, got k=${k}, j=${j}`)
  const sorted = [...rewards].sort((a, b) => a - b)
  const total = logChoose(K, k)
  let sum = 0
  for (let i = j; i <= K - (k - j); i++) sum += sorted[i - 1] * Math.exp(logChoose(i - 1, j - 1) + logChoose(K - i, k - j) - total)
  return sum
}

/** The median of k drawn answers, in expectation (the mean of the two middle ones for even k). */
export function expectedMedian(rewards: number[], k: number): number {
  const lo = Math.floor((k + 1) / 2)
  const hi = Math.ceil((k + 1) / 2)
  return (expectedOrderStatistic(rewards, k, lo) + expectedOrderStatistic(rewards, k, hi)) / 2
}

/**
 * Figure 7 of the paper: for k = 1..K, the maximum and the median reward among k samples, each
 * averaged over the prompts. The gap between them is what rejection sampling can gain.
 */
export function bestOfKCurve(rewardsPerPrompt: number[][]): { k: number; max: number; median: number }[] {
  if (rewardsPerPrompt.length === 0) return []
  const K = Math.min(...rewardsPerPrompt.map((r) => r.length))
  const mean = (f: (r: number[]) => number) => rewardsPerPrompt.reduce((s, r) => s + f(r), 0) / rewardsPerPrompt.length
  return Array.from({ length: K }, (_, i) => {
    const k = i + 1
    return { k, max: mean((r) => expectedOrderStatistic(r, k, k)), median: mean((r) => expectedMedian(r, k)) }
  })
}

// ---------------------------------------------------------------------------------------------
// Pooling across rounds

/**
 * One answer per conversation: the highest reward wins; an earlier round wins a tie. A prompt
 * drawn n times in one round (safety_prompt_share repeats a small pool) keeps its n answers: the
 * n-th draw competes with the n-th draw of other rounds, so the mix the share asked for survives.
 */
export function poolSelections(rows: SelectedAnswer[]): SelectedAnswer[] {
  const best = new Map<string, SelectedAnswer>()
  const drawsInRound = new Map<string, number>()
  for (const row of rows) {
    const conversation = JSON.stringify(row.messages.slice(0, -1))
    const roundKey = `${row.round}\u0000${conversation}`
    const draw = drawsInRound.get(roundKey) ?? 0
    drawsInRound.set(roundKey, draw + 1)
    const key = `${draw}\u0000${conversation}`
    const held = best.get(key)
    if (!held || row.reward > held.reward) best.set(key, row)
  }
  return [...best.values()]
}

export const RLHF_STAGES = ['rejection_sampling', 'ppo']
export const SELECTED_ARTIFACT = 'rs_selected'

/**
 * The RLHF runs the policy descends from (newest first), following `policy` parents while they
 * are rejection_sampling or ppo runs, with the kept answers of the rejection-sampling ones.
 */
export function earlierRounds(store: Store, policyRunId: string | undefined): { runId: string; stage: string; selected: SelectedAnswer[] }[] {
  const out: { runId: string; stage: string; selected: SelectedAnswer[] }[] = []
  let id = policyRunId
  while (id) {
    const run = store.getRun(id)
    if (!RLHF_STAGES.includes(run.stage)) break
    const artifact = store.listArtifacts(id, { kind: SELECTED_ARTIFACT })[0]
    out.push({ runId: id, stage: run.stage, selected: artifact ? readSelected(store.absolutePath(artifact.path)) : [] })
    id = run.parents.find((p) => p.role === 'policy' && p.exists)?.runId
  }
  return out
}

export function readSelected(file: string): SelectedAnswer[] {
  return readJsonLines<SelectedAnswer>(file)
}

function writeJsonl(file: string, rows: unknown[]): void {
  const partial = `${file}.partial`
  fs.writeFileSync(partial, rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
  fs.renameSync(partial, file) // whole or absent: a resume trusts a file that exists
}

// ---------------------------------------------------------------------------------------------
// Sampling and scoring

/**
 * K answers to one conversation. The ONE place that generates: one batch of K rows with one KV
 * cache (generateBatch).
 */
export async function sampleAnswers(
  model: Llama,
  tokenizer: Tokenizer,
  messages: ChatMessage[],
  opts: { k: number; temperature: number; maxNewTokens: number; seed: number; signal?: AbortSignal },
): Promise<ChatAnswer[]> {
  const prompt = encodeChatPrompt(tokenizer, messages)
  // K rows of the same prompt in one batch; row j samples with seed + j.
  const rows = await generateBatch(model, Array.from({ length: opts.k }, () => prompt), {
    maxNewTokens: opts.maxNewTokens,
    temperature: opts.temperature,
    stopIds: chatStopTokens(tokenizer),
    seed: opts.seed,
    signal: opts.signal,
  })
  return rows.map((row) => ({ text: tokenizer.decode(row.ids, { skipSpecial: true }).trim(), finished: row.stoppedBy === 'stop' }))
}

/**
 * The answers that compete: the non-empty ones (an empty answer teaches nothing), each with its
 * reward and whether it finished. A cut one competes too (the best story is often longer than the
 * budget; keeping only finished answers keeps only the short ones) and is fine-tuned as cut.
 */
export function candidatesOf(answers: ChatAnswer[], rewards: number[]): ScoredAnswer[] {
  return answers.flatMap((a, j) => (a.text !== '' ? [{ answer: a.text, reward: rewards[j], finished: a.finished }] : []))
}

/** Every answer's reward by one reward model (loaded, used, freed), or undefined without one. */
async function rewardsBy(dir: string | undefined, conversations: ChatMessage[][]): Promise<number[] | undefined> {
  if (!dir) return undefined
  const rm = loadModel(dir, { heads: ['reward'], scoringOnly: true })
  try {
    return await scoreResponses(rm, rm.tokenizer, conversations)
  } finally {
    rm.dispose()
  }
}

/** The prompts of this round: max_prompts of them, starting where the previous round stopped. */
export function promptsForRound<T>(items: T[], maxPrompts: number, round: number): T[] {
  if (maxPrompts <= 0 || maxPrompts >= items.length) return items
  const start = ((round - 1) * maxPrompts) % items.length
  return Array.from({ length: maxPrompts }, (_, i) => items[(start + i) % items.length])
}

/**
 * This round's prompts: without safety_prompt_share, max_prompts of the files' prompts in file
 * order (promptsForRound); with it, max_prompts (0: as many as the files hold) drawn with that
 * share of safety prompts, each pool going on where the previous round stopped.
 */
export function roundPrompts(config: RejectionSamplingConfig, round: number): PromptItem[] {
  const { items } = readRlhfPrompts(config)
  if (config.safety_prompt_share === undefined) return promptsForRound(items, config.max_prompts, round)
  const count = config.max_prompts > 0 ? config.max_prompts : items.length
  const files = [config.prompts, config.safety_prompts].filter(Boolean).join(' and ')
  return mixBySafetyShare(items, { share: config.safety_prompt_share, count, seed: config.seed, start: round - 1, files })
}

// ---------------------------------------------------------------------------------------------
// The run

async function run(ctx: StageContext, config: RejectionSamplingConfig): Promise<StageResult> {
  const started = Date.now()
  const policyDir = parentCheckpoint(ctx, 'policy', config.policy, 'policy')
  if (!policyDir) throw new Error('rejection_sampling needs a policy: set policy=<run id or checkpoint folder>')
  const rmHelpful = parentCheckpoint(ctx, 'reward_helpful', config.rm_helpful, 'rm_helpful')
  const rmSafety = parentCheckpoint(ctx, 'reward_safety', config.rm_safety, 'rm_safety')
  if (!rmHelpful && !rmSafety) throw new Error('rejection_sampling needs a reward model: set rm_helpful, rm_safety or both')

  const history = historyOf(ctx)
  const round = history.length + 1
  ctx.tracker.logParams({ round })
  const selectedFile = path.join(ctx.runDir, 'selected.jsonl')
  const trainFile = path.join(ctx.runDir, 'train.jsonl')
  const { model, tokenizer } = loadModel(policyDir, { maxSeqLen: config.seq_len })
  try {
    // A resumed run has its selection already (written whole before fine-tuning started).
    let selected: SelectedAnswer[]
    let sampleRewardMean: number | undefined // unknown after a resume (only the kept answers are on disk)
    let rmGoldAgreement: { agreement: number; pairs: number } | undefined // likewise; absent without gold checks
    let goldHeadroom: SelectionHeadroom | undefined // likewise
    if (ctx.resumeFrom && fs.existsSync(trainFile) && fs.existsSync(selectedFile)) {
      selected = readSelected(selectedFile)
      ctx.log(`resuming: ${selected.length} kept answers already selected`)
    } else {
      const picked = await selectAnswers(ctx, config, { model, tokenizer, rmHelpful, rmSafety, round })
      selected = picked.selected
      sampleRewardMean = picked.sampleRewardMean
      rmGoldAgreement = picked.rmGoldAgreement
      goldHeadroom = picked.goldHeadroom
      if (ctx.signal.aborted) return { stopped: true, summary: { round, prompts: selected.length } }
      writeJsonl(selectedFile, selected)
      ctx.tracker.logArtifact({ kind: SELECTED_ARTIFACT, path: selectedFile, meta: { round, answers: selected.length } })
      const earlier = config.pool_previous ? history.flatMap((h) => h.selected) : []
      const pooled = poolSelections([...earlier, ...selected])
      writeJsonl(trainFile, pooled)
      ctx.log(`round ${round}: kept ${selected.length} answers; training on ${pooled.length}${config.pool_previous ? ` (pooled with ${history.length} earlier round(s))` : ''}`)
    }
    const tuned = await fineTuneOnChat(ctx, { model, tokenizer, config, paths: [trainFile], stage: 'rejection_sampling', from: policyDir })
    const meanReward = selected.reduce((s, r) => s + r.reward, 0) / selected.length
    return {
      stopped: tuned.result.stopped,
      checkpointDir: tuned.result.bestCheckpointDir,
      summary: {
        round,
        prompts: selected.length,
        kept_reward_mean: meanReward,
        ...(sampleRewardMean !== undefined ? { sample_reward_mean: sampleRewardMean } : {}),
        ...(rmGoldAgreement ? { rm_gold_agreement: rmGoldAgreement.agreement, rm_gold_pairs: rmGoldAgreement.pairs } : {}),
        ...(goldHeadroom ? { gold_kept: goldHeadroom.kept, gold_sampled: goldHeadroom.sampled, gold_best_possible: goldHeadroom.best_possible } : {}),
        ...fineTuneSummary(tuned),
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
    }
  } finally {
    model.dispose()
  }
}

/** The earlier RLHF rounds behind the policy (none when the policy is a folder or not an RLHF run). */
function historyOf(ctx: StageContext): ReturnType<typeof earlierRounds> {
  const policyRun = ctx.parents.find((p) => p.role === 'policy')?.runId
  if (!policyRun) return []
  const store = Store.open(ctx.home)
  try {
    return earlierRounds(store, policyRun)
  } finally {
    store.close()
  }
}

/** Samples K answers per prompt, scores them, keeps the best; records Figure 7, samples and gold figures. */
async function selectAnswers(
  ctx: StageContext,
  config: RejectionSamplingConfig,
  p: { model: Llama; tokenizer: Tokenizer; rmHelpful?: string; rmSafety?: string; round: number },
): Promise<{ selected: SelectedAnswer[]; sampleRewardMean: number; rmGoldAgreement?: { agreement: number; pairs: number }; goldHeadroom?: SelectionHeadroom }> {
  const items = roundPrompts(config, p.round)
  const safetyPrompts = items.filter(isSafetyPrompt)
  ctx.tracker.logParams({ safety_prompts_drawn: safetyPrompts.length, safety_prompts_unique: new Set(safetyPrompts).size, safety_share_drawn: safetyShareOf(items) })
  const answers: ChatAnswer[][] = []
  for (const [i, item] of items.entries()) {
    if (ctx.signal.aborted) return { selected: [], sampleRewardMean: NaN }
    answers.push(await sampleAnswers(p.model, p.tokenizer, item.messages, { k: config.k, temperature: config.temperature, maxNewTokens: config.max_new_tokens, seed: config.seed * 1_000_003 + p.round * 10_007 + i * config.k, signal: ctx.signal }))
    // The bar counts prompts while sampling (the fine-tuning that follows counts its steps).
    ctx.progress({ step: i + 1, totalSteps: items.length, message: `sampling ${config.k} answers per prompt` })
  }
  const conversations = items.flatMap((item, i) => answers[i].map((a): ChatMessage[] => [...item.messages, { role: 'assistant', content: a.text }]))
  ctx.log(`scoring ${conversations.length} answers`)
  const helpful = await rewardsBy(p.rmHelpful, conversations)
  const safety = await rewardsBy(p.rmSafety, conversations)
  const rewards = items.map((item, i) =>
    answers[i].map((_, j) => combinedReward({ helpful: helpful?.[i * config.k + j], safety: safety?.[i * config.k + j] }, isSafetyPrompt(item))),
  )

  for (const point of bestOfKCurve(rewards)) ctx.tracker.logMetrics(point.k, { 'rs/reward_max_at_k': point.max, 'rs/reward_median_at_k': point.median })
  const selected: SelectedAnswer[] = []
  const judged: GoldResult[] = []
  const rewardedForGold: RewardedAnswers[] = []
  let unanswered = 0
  for (const [i, item] of items.entries()) {
    const candidates = candidatesOf(answers[i], rewards[i])
    if (candidates.length === 0) {
      unanswered++
      continue
    }
    const { best, runnerUp } = selectBest(candidates)
    const gold = goldItemOf(item)
    if (gold) rewardedForGold.push({ item: gold, answers: candidates })
    const verdict = gold ? judgeResponse(gold, best.answer) : undefined
    if (verdict) judged.push(verdict)
    selected.push({
      prompt_id: item.id,
      prompt: item.prompt,
      messages: [...item.messages, { role: 'assistant', content: best.answer }],
      answer: best.answer,
      reward: best.reward,
      runner_up: runnerUp?.answer ?? null,
      runner_up_reward: runnerUp?.reward ?? null,
      round: p.round,
      ...(verdict ? { gold_helpfulness: verdict.helpfulness, gold_safety: verdict.safety } : {}),
      ...(best.finished === false ? { unfinished: true as const } : {}),
    })
    ctx.tracker.logSample({
      step: 0,
      prompt: item.prompt,
      response: best.answer,
      scores: { reward: best.reward, ...(runnerUp ? { runner_up_reward: runnerUp.reward } : {}), ...(verdict ? { gold_helpfulness: verdict.helpfulness } : {}) },
    })
  }
  const unfinished = answers.flat().filter((a) => !a.finished).length
  if (unanswered > 0) ctx.tracker.logEvent('warning', `${unanswered} of ${items.length} prompt(s) got only empty answers and keep none`, { unanswered }, 0)
  if (selected.length === 0) throw new Error(`rejection_sampling: every sampled answer to the ${items.length} prompt(s) of ${config.prompts} was empty; nothing to fine-tune on`)
  const flat = rewards.flat()
  const keptMean = selected.reduce((s, r) => s + r.reward, 0) / selected.length
  const sampleRewardMean = flat.reduce((a, b) => a + b, 0) / flat.length
  // Does the reward rank the policy's own answers as the gold judges do? (0.5 is chance.)
  const agreement = rewardGoldAgreement(rewardedForGold)
  const agreementFigures: Record<string, number> = agreement.pairs > 0 ? { 'rs/rm_gold_agreement': agreement.agreement, 'rs/rm_gold_pairs': agreement.pairs } : {}
  // And by kind of prompt: a reward can rank safety answers well and fact answers at chance.
  for (const [kind, byKind] of Object.entries(rewardGoldAgreementByKind(rewardedForGold))) {
    agreementFigures[`rs/rm_gold_agreement_${kind}`] = byKind.agreement
    agreementFigures[`rs/rm_gold_pairs_${kind}`] = byKind.pairs
  }
  // The kept answers' gold beside a random pick's and the gold-best pick's: what selection by this reward gained, and could have.
  const headroom = selectionHeadroom(rewardedForGold)
  const headroomFigures: Record<string, number> = headroom.prompts > 0 ? { 'gold/helpfulness_sampled': headroom.sampled, 'gold/helpfulness_best_possible': headroom.best_possible } : {}
  ctx.tracker.logMetrics(0, { 'rs/kept_reward_mean': keptMean, 'rs/sample_reward_mean': sampleRewardMean, 'rs/unfinished_share': unfinished / Math.max(1, answers.flat().length), 'rs/kept_unfinished': selected.filter((r) => r.unfinished).length, ...goldFigures(judged), ...agreementFigures, ...headroomFigures })
  return { selected, sampleRewardMean, rmGoldAgreement: agreement.pairs > 0 ? agreement : undefined, goldHeadroom: headroom.prompts > 0 ? headroom : undefined }
}

/** The gold judges' figures of the kept answers, named beside the proxy reward. */
export function goldFigures(judged: GoldResult[]): Record<string, number> {
  const summary = summariseGold(judged)
  const out: Record<string, number> = {}
  if (summary['eval/gold_helpfulness'] !== undefined) out['gold/helpfulness'] = summary['eval/gold_helpfulness']
  if (summary['eval/violation_rate'] !== undefined) out['gold/violation_rate'] = summary['eval/violation_rate']
  return out
}

function precheck(config: RejectionSamplingConfig): void {
  roundPrompts(config, 1) // reads both files and checks the share can be met
}

export const rejectionSamplingStage = defineStage({
  name: 'rejection_sampling',
  title: 'Rejection sampling',
  description:
    'Samples K answers per prompt from the policy, keeps the one the reward model(s) score best, and fine-tunes the ' +
    'policy on the kept answers (pooled with earlier rounds\' by default). Records best-of-K reward curves (Figure 7).',
  schema,
  presets: {
    tiny: { k: 4, lr: 1e-3, batch_size: 8, epochs: 4, warmup_steps: 5, max_new_tokens: 32 },
  },
  parents: [
    { role: 'policy', key: 'policy', required: true },
    { role: 'reward_helpful', key: 'rm_helpful' },
    { role: 'reward_safety', key: 'rm_safety' },
  ],
  cli: {
    command: 'rejection-sampling',
    summary: 'rejection-sampling --policy <run> --prompts <f> --rm-helpful <run>  best-of-K fine-tuning',
    usage: [
      'Usage: workbench rejection-sampling --policy <run|checkpoint> --prompts <file.jsonl> [--rm-helpful <run>] [--rm-safety <run>] [--k N] [options]',
      '',
      'Samples K answers per prompt, keeps the best by reward and fine-tunes the policy on them (one RLHF round;',
      '`workbench rlhf` runs several). The kept answers are the run\'s selected.jsonl.',
    ].join('\n'),
    flags: {
      policy: 'policy', prompts: 'prompts', 'rm-helpful': 'rm_helpful', 'rm-safety': 'rm_safety', k: 'k', temperature: 'temperature',
      'safety-prompts': 'safety_prompts', 'safety-prompt-share': 'safety_prompt_share',
    },
  },
  precheck,
  estimate: (config, from) => finetuningEstimate(config, from, { notes: ['the fine-tuning step; sampling the answers first needs less'] }),
  run,
})
