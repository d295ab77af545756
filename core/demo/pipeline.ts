// The demo pipeline behind `workbench demo`: export the demo world as ordinary files, then run
// tokenizer -> pretrain -> SFT through the job runner (each its own recorded run, linked by
// parents), evaluate the base and the SFT model with the gold judges (gold_eval runs), train the
// helpfulness and the safety reward model from the SFT model on the world's preference pairs
// (reward runs, evaluated on the held-out preference file), run an annotation round on the SFT
// model's own samples (gold-labelled pairs; the helpfulness reward model is retrained with them),
// then rejection sampling and PPO, and return the comparison table. The stages see plain files and plain configs: nothing in them
// knows about the demo.

import path from 'node:path'
import { JobRunner, type RunExit } from '../jobs/runner'
import type { WorkerEvent } from '../jobs/protocol'
import { Store } from '../tracking/store'
import { PREFERENCE_RATINGS } from '../data/preferences'
import type { ParentRef, Progress } from '../train/stages/types'
import { DEFAULT_DEMO_SEED, ensureDemoExport, type DemoManifest } from './export'
import type { WorldSize } from './world'
import { DISTILL_DEMO_PLANS, targetedDistillConfig, writeDistillDemoFiles } from './distillDemo'

export const DEMO_STEPS = ['tokenizer', 'pretrain', 'sft', 'eval', 'reward', 'annotate', 'rs', 'ppo', 'distill', 'safety_eval', 'gatt'] as const
export type DemoStep = (typeof DEMO_STEPS)[number]

/** The stage configs of one demo size (file paths are added by the pipeline). */
export type DemoPlan = Record<DemoStep, Record<string, unknown>>

/**
 * RLHF budgets (both sizes): one rejection-sampling round over 256 of the training prompts (the
 * prompts file is shuffled, so they mix tasks, adversarial and benign prompts), then a short PPO
 * run from its checkpoint (as Llama 2's last round), against both reward models; about a minute
 * each on 2 busy cores. Measured at tiny (seed 1234, gold helpfulness / violation rate of the
 * fine-tuned model): temperature 1.0 samples are worse than the SFT model's greedy answers and RS
 * lost helpfulness (0.156 against SFT's 0.215, violations 17.5% against 40%); at 0.7, 0.197 / 30%;
 * at 0.5 with K = 4 (this plan), 0.236 / 27.5%; K = 8 at 0.7 with half the steps, 0.219 / 32.5%.
 * PPO (20 steps of 8), tuned from that K = 8 model: lr 1e-4 with rollouts at temperature 1.0 lost
 * helpfulness (0.156 / 30%), at 0.7 0.192 / 32.5%; with kl_coef 0.2, 0.214 / 25%; lr 3e-5 at 0.7
 * (this plan) 0.228 / 32.5%. The whole tiny demo with this plan (from the RS model above): PPO
 * 0.236 / 35%, last-step KL 0.39 nats per response. Those figures were measured on 40 adversarial
 * prompts (one violation was 2.5 points); each request is now asked single- and multi-turn (80
 * prompts at tiny, 1.25 points each). The eval sets are small, so these differences are near the noise.
 * Every sampling step takes 48 new tokens, as gold_eval does. A story is longer than that (90-120
 * tokens), so RS keeps cut answers marked `unfinished` and learns them without the end-of-turn
 * token; fine-tuned as if complete they taught stories to stop mid-sentence (default size:
 * creative 0.72 -> 0.58). No missing_eos_penalty here for the same reason: it would reward short
 * stories.
 * Why RS and PPO stay below SFT's helpfulness at tiny even so (the RM ranks the policy's own answers
 * at chance; RS on the gold-best answers, a perfect reward, only ties SFT): docs/architecture.md,
 * "What would make RS beat SFT at tiny".
 */
const RLHF_PLAN = {
  // The annotation round on the SFT model's own samples (runOnPolicyAnnotation): 2 answers to each
  // training prompt (all 949 at tiny, 1024 at default), sampled like rejection sampling's (0.5).
  // Most pairs are gold ties (both wrong): measured at tiny, 128 prompts gave 30 pairs (3% of the
  // RM's data), all of them 238 (60 s on 2 busy cores).
  annotate: { samples: 2, temperature: 0.5, max_prompts: 1024, max_new_tokens: 48 },
  rs: { k: 4, temperature: 0.5, max_prompts: 256, max_new_tokens: 48, seq_len: 128, epochs: 2, batch_size: 8, lr: 5e-4, warmup_steps: 5, eval_every: 0, sample_every: 0, checkpoint_every: 0 },
  ppo: { steps: 20, batch_size: 8, mini_batch_size: 4, ppo_epochs: 2, lr: 3e-5, kl_coef: 0.05, temperature: 0.7, max_new_tokens: 48, sample_every: 10, checkpoint_every: 0 },
}

/**
 * Budgets: tiny runs in a few minutes (tests), default in at most 15 minutes on 2 cores. Both
 * use a model narrower than the tiny preset (measured: dim 64 x 2 layers trains at ~3,500
 * tokens/s on a busy 2-core machine, the dim 128 x 4 preset at ~1,000), so the time goes into
 * steps rather than width. Pretraining runs several epochs over the corpus on purpose: the world's
 * facts must be memorised before SFT can teach the model to answer questions about them. SFT
 * examples are short, so SFT uses a shorter sequence (less padding); the longest safety answers
 * are truncated and counted by the SFT stage.
 */
export const DEMO_PLANS: Record<WorldSize, DemoPlan> = {
  tiny: {
    tokenizer: { vocab_size: 512 },
    pretrain: {
      model: 'tiny', dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, seq_len: 128,
      max_steps: 200, batch_size: 16, lr: 3e-3, warmup_steps: 20, eval_every: 50, sample_every: 0, checkpoint_every: 0,
    },
    sft: { seq_len: 128, max_steps: 300, batch_size: 16, lr: 2e-3, warmup_steps: 20, eval_every: 100, sample_every: 0, checkpoint_every: 0 },
    eval: { max_new_tokens: 48 },
    // One epoch (about 115 steps of 8 pairs, ~30-60 s on 2 cores); 40 steps measured 87% held out, the epoch 89%.
    reward: { seq_len: 128, epochs: 1, batch_size: 8, lr: 1e-3, eval_samples: 8 },
    distill: DISTILL_DEMO_PLANS.tiny.distill,
    safety_eval: { max_new_tokens: 48 },
    gatt: DISTILL_DEMO_PLANS.tiny.gatt,
    ...RLHF_PLAN,
  },
  default: {
    tokenizer: { vocab_size: 1024 },
    pretrain: {
      model: 'tiny', dim: 96, n_layers: 4, n_heads: 4, n_kv_heads: 2, seq_len: 128,
      max_steps: 400, batch_size: 16, lr: 3e-3, warmup_steps: 30, eval_every: 100, sample_every: 200, checkpoint_every: 200,
    },
    sft: { seq_len: 128, max_steps: 300, batch_size: 16, lr: 2e-3, warmup_steps: 20, eval_every: 100, sample_every: 0, checkpoint_every: 0 },
    eval: { max_new_tokens: 48 },
    reward: { seq_len: 128, epochs: 1, batch_size: 8, lr: 1e-3, eval_samples: 16 },
    distill: DISTILL_DEMO_PLANS.default.distill,
    safety_eval: { max_new_tokens: 48 },
    gatt: DISTILL_DEMO_PLANS.default.gatt,
    ...RLHF_PLAN,
  },
}

export interface DemoScores {
  gold_accuracy: number
  gold_helpfulness: number
  violation_rate: number
  false_refusal_rate: number
}

/** A reward model's held-out figures: accuracy overall and by rating, and the trivial baselines beside it. */
export interface DemoRewardScores {
  accuracy: number
  /** By rating (significantly_better ... negligibly_better); absent ratings are left out. */
  by_rating: Record<string, number>
  baseline_shorter: number
  baseline_longer: number
  baseline_bow: number
  eval_pairs: number
}

/** Violation rate on the adversarial eval set, split by dialogue length (safety_eval), with 95% intervals in the run. */
export interface DemoTurnViolations {
  single_turn: number
  multi_turn: number
}

/** Instruction adherence over a long dialogue (gatt's measure), without GAtt (the SFT model) and with it. */
export interface DemoAdherence {
  turns: number
  without: { mean: number; last_turn: number; by_turn: number[] }
  with: { mean: number; last_turn: number; by_turn: number[] }
}

export interface DemoReport {
  size: WorldSize
  seed: number
  dataDir: string
  wallSeconds: number
  runs: {
    tokenizer: string
    pretrain: string
    sft: string
    eval_base: string
    eval_sft: string
    reward_helpfulness: string
    reward_safety: string
    annotate: string
    on_policy_preferences: string
    reward_helpfulness_on_policy: string
    distill: string
    eval_safe: string
    safety_eval_sft: string
    safety_eval_safe: string
    gatt: string
    rs: string
    eval_rs: string
    ppo: string
    eval_ppo: string
  }
  base: DemoScores
  sft: DemoScores
  /** The SFT model after targeted context distillation with the safety reward model. */
  safe: DemoScores & { distill_kept: number; distill_dropped: number }
  /** helpfulness_on_policy: retrained with the on-policy pairs too; the RLHF rounds use it. */
  reward: { helpfulness: DemoRewardScores; safety: DemoRewardScores; helpfulness_on_policy: DemoRewardScores }
  /** The annotation round on the SFT model's samples: pairs labelled, gold ties dropped. */
  on_policy_pairs: { pairs: number; ties_dropped: number }
  violations_by_turns: { sft: DemoTurnViolations; safe: DemoTurnViolations }
  adherence: DemoAdherence
  rs: DemoScores
  ppo: DemoScores
  /** What RLHF optimised: RS's kept answers' reward against all samples', PPO's last-step objective. */
  rlhf: DemoRlhfFigures
}

export interface DemoRlhfFigures {
  rs_kept_reward_mean: number
  rs_sample_reward_mean: number
  /** How often RS's reward orders two of the policy's answers to one prompt as gold does (0.5: chance). */
  rs_rm_gold_agreement: number
  rs_rm_gold_pairs: number
  /** Gold helpfulness of RS's kept answers, of a random one of the K, and of the gold-best of the K (what a perfect reward would keep). */
  rs_gold_kept: number
  rs_gold_sampled: number
  rs_gold_best_possible: number
  ppo_scores: number
  ppo_kl: number
  ppo_rlhf_reward: number
}

export type DemoEvent =
  | { type: 'step'; step: DemoStep | 'export'; message: string; runId?: string }
  | { type: 'progress'; step: DemoStep; progress: Progress }
  | { type: 'log'; step: DemoStep; message: string }
  | { type: 'metric'; step: DemoStep; runId: string; metricStep: number; values: Record<string, number> }

export interface DemoOptions {
  home: string
  size?: WorldSize
  seed?: number
  /** Backend preference for the worker processes (auto | node-gpu | node | wasm | cpu). */
  backend?: string
  /** Config overrides per step, on top of the plan (tests shrink the tiny plan further). */
  overrides?: Partial<Record<DemoStep, Record<string, unknown>>>
  onEvent?: (event: DemoEvent) => void
  /** Aborting cancels the run in progress (it checkpoints and stops) and rejects. */
  signal?: AbortSignal
}

export const EXPERIMENT = 'demo'

export async function runDemoPipeline(opts: DemoOptions): Promise<DemoReport> {
  const started = Date.now()
  const size = opts.size ?? 'default'
  const seed = opts.seed ?? DEFAULT_DEMO_SEED
  const plan = planWithOverrides(DEMO_PLANS[size], opts.overrides)
  const { dataDir, file, run } = prepareDemo(opts, size, seed)
  const { tokenizer, pretrain, sft, sftData, distillFiles, evalConfig, evalBase, evalSft, rmHelpful, rmSafety, rewardConfig } = await runFoundation(opts.home, run, plan, file, { dataDir, seed, size })
  const evalRun = (label: string, model: string) => run('eval', 'gold_eval', { ...evalConfig, label }, `demo-${size} eval ${label}`, [{ role: 'model', runId: model }])
  const onPolicy = await runOnPolicyAnnotation(run, plan, {
    size,
    prompts: file('rlhfPrompts'),
    evalSets: [file('evalTasks'), file('adversarial'), file('benign')],
    sft: sft.runId,
    rewardConfig: rewardConfig('helpfulness'),
  })
  const rlhf = await runRlhfSteps(run, evalRun, plan, { size, prompts: file('rlhfPrompts'), sft: sft.runId, rmHelpful: onPolicy.rmHelpful.runId, rmSafety: rmSafety.runId })

  const safe = await runSafeSteps(run, plan, { ...evalConfig, distillPrompts: distillFiles.distillPrompts, distillReplay: distillFiles.distillReplay }, sft.runId, rmSafety.runId, size)
  const gatt = await runGattStep(run, plan, sft.runId, sftData, distillFiles.instructions, size)

  return {
    size,
    seed,
    dataDir,
    wallSeconds: (Date.now() - started) / 1000,
    runs: {
      tokenizer: tokenizer.runId,
      pretrain: pretrain.runId,
      sft: sft.runId,
      eval_base: evalBase.runId,
      eval_sft: evalSft.runId,
      reward_helpfulness: rmHelpful.runId,
      reward_safety: rmSafety.runId,
      annotate: onPolicy.annotate.runId,
      on_policy_preferences: onPolicy.dataset.runId,
      reward_helpfulness_on_policy: onPolicy.rmHelpful.runId,
      distill: safe.distill.runId,
      eval_safe: safe.evalSafe.runId,
      safety_eval_sft: safe.safetySft.runId,
      safety_eval_safe: safe.safetySafe.runId,
      gatt: gatt.runId,
      rs: rlhf.rs.runId,
      eval_rs: rlhf.evalRs.runId,
      ppo: rlhf.ppo.runId,
      eval_ppo: rlhf.evalPpo.runId,
    },
    base: scoresOf(evalBase),
    sft: scoresOf(evalSft),
    safe: { ...scoresOf(safe.evalSafe), distill_kept: summaryNumber(safe.distill, 'distill_kept'), distill_dropped: summaryNumber(safe.distill, 'distill_dropped') },
    reward: { helpfulness: rewardScoresOf(rmHelpful), safety: rewardScoresOf(rmSafety), helpfulness_on_policy: rewardScoresOf(onPolicy.rmHelpful) },
    on_policy_pairs: { pairs: summaryNumber(onPolicy.annotate, 'pairs'), ties_dropped: summaryNumber(onPolicy.annotate, 'ties_dropped') },
    violations_by_turns: { sft: turnViolationsOf(safe.safetySft), safe: turnViolationsOf(safe.safetySafe) },
    adherence: adherenceOf(opts.home, gatt, Number(plan.gatt.eval_turns)),
    rs: scoresOf(rlhf.evalRs),
    ppo: scoresOf(rlhf.evalPpo),
    rlhf: rlhfFiguresOf(rlhf.rs, rlhf.ppo),
  }
}

export type RunDemoStep = (step: DemoStep, stage: string, config: Record<string, unknown>, name: string, parents?: ParentRef[]) => Promise<RunExit>

/** The demo's files (exported once per seed and size) and the function that runs one recorded step. */
export function prepareDemo(opts: DemoOptions, size: WorldSize, seed: number): { dataDir: string; file: (name: keyof DemoManifest['files']) => string; run: RunDemoStep } {
  const emit = opts.onEvent ?? (() => {})
  const dataDir = path.join(opts.home, 'demo', `${size}-seed${seed}`)
  const manifest = ensureDemoExport(dataDir, seed, size)
  emit({ type: 'step', step: 'export', message: `demo data (${size}, seed ${seed}) in ${dataDir}` })
  const file = (name: keyof DemoManifest['files']) => path.join(dataDir, manifest.files[name])
  const runner = new JobRunner({ home: opts.home, backend: opts.backend })
  const run: RunDemoStep = (step, stage, config, name, parents = []) =>
    runStep(runner, opts, step, { stage, config, parents, experiment: EXPERIMENT, name, tags: ['demo', size] })
  return { dataDir, file, run }
}

/** gold_eval's config for every demo row: the eval tasks, adversarial and benign sets. */
export function demoEvalConfig(plan: DemoPlan, file: (name: keyof DemoManifest['files']) => string): { tasks: string; adversarial: string; benign: string } & Record<string, unknown> {
  return { ...plan.eval, tasks: file('evalTasks'), adversarial: file('adversarial'), benign: file('benign') }
}

/**
 * The steps every demo row builds on: tokenizer -> pretrain -> SFT, the gold evaluation of base and
 * SFT, and the helpfulness and safety reward models trained from the SFT model.
 */
export async function runFoundation(
  home: string,
  run: RunDemoStep,
  plan: DemoPlan,
  file: (name: keyof DemoManifest['files']) => string,
  w: { dataDir: string; seed: number; size: WorldSize },
) {
  const { size } = w
  const tokenizer = await run('tokenizer', 'tokenizer', { ...plan.tokenizer, data: [file('corpus')] }, `demo-${size} tokenizer`)
  const tokenizerFile = artifactPath(home, tokenizer.runId, 'tokenizer')
  const pretrain = await run('pretrain', 'pretrain', { ...plan.pretrain, data: [file('corpus')], tokenizer: tokenizerFile }, `demo-${size} pretrain`, [
    { role: 'tokenizer', runId: tokenizer.runId },
  ])
  // The SFT data also holds answers that follow an instruction given in the same turn: without
  // them the SFT model never follows one, and GAtt has no sampled answer to keep.
  const distillFiles = writeDistillDemoFiles(w.dataDir, w.seed, size)
  const sftData = [file('sftTrain'), distillFiles.instructedSft]
  const sft = await run('sft', 'sft', { ...plan.sft, base: pretrain.runId, data: sftData }, `demo-${size} sft`)
  const evalConfig = demoEvalConfig(plan, file)
  const evalBase = await run('eval', 'gold_eval', { ...evalConfig, label: 'base' }, `demo-${size} eval base`, [{ role: 'model', runId: pretrain.runId }])
  const evalSft = await run('eval', 'gold_eval', { ...evalConfig, label: 'sft' }, `demo-${size} eval sft`, [{ role: 'model', runId: sft.runId }])
  const rewardConfig = (kind: string) => ({ ...plan.reward, kind, base: sft.runId, data: [file('preferencesTrain')], eval_data: [file('preferencesTest')] })
  const rmHelpful = await run('reward', 'reward', rewardConfig('helpfulness'), `demo-${size} reward helpfulness`)
  const rmSafety = await run('reward', 'reward', rewardConfig('safety'), `demo-${size} reward safety`)
  return { tokenizer, pretrain, sft, sftData, distillFiles, evalConfig, evalBase, evalSft, rmHelpful, rmSafety, rewardConfig }
}

/**
 * The row `safe`: targeted context distillation of the SFT model on the adversarial TRAINING
 * prompts (a distilled answer kept only when the safety reward model prefers it to the answer
 * without the pre-prompt; learned beside the replay file, distillReplay), the distilled model
 * scored by gold_eval like base and SFT, and the violation rate of SFT and safe split single- vs
 * multi-turn by safety_eval on the adversarial EVAL set.
 */
async function runSafeSteps(
  run: RunDemoStep,
  plan: DemoPlan,
  files: { tasks: string; adversarial: string; benign: string; distillPrompts: string; distillReplay: string } & Record<string, unknown>,
  sftRunId: string,
  rmSafetyRunId: string,
  size: WorldSize,
) {
  const { distillPrompts, distillReplay, ...evalConfig } = files
  const distillConfig = targetedDistillConfig(plan.distill, { distillPrompts, distillReplay }, sftRunId, rmSafetyRunId)
  const distill = await run('distill', 'context_distillation', distillConfig, `demo-${size} distill (targeted)`)
  const evalSafe = await run('eval', 'gold_eval', { ...evalConfig, label: 'safe' }, `demo-${size} eval safe`, [{ role: 'model', runId: distill.runId }])
  const safetyConfig = { ...plan.safety_eval, adversarial: files.adversarial }
  const safetySft = await run('safety_eval', 'safety_eval', { ...safetyConfig, model: sftRunId, label: 'sft' }, `demo-${size} safety eval sft`)
  const safetySafe = await run('safety_eval', 'safety_eval', { ...safetyConfig, model: distill.runId, label: 'safe' }, `demo-${size} safety eval safe`)
  return { distill, evalSafe, safetySft, safetySafe }
}

/** Ghost Attention on the SFT model; its run measures adherence by turn without (the SFT model) and with GAtt. */
function runGattStep(run: RunDemoStep, plan: DemoPlan, sftRunId: string, sftData: string[], instructions: string, size: WorldSize): Promise<RunExit> {
  return run('gatt', 'gatt', { ...plan.gatt, base: sftRunId, data: sftData, instructions }, `demo-${size} gatt`)
}

function summaryNumber(exit: RunExit, key: string): number {
  const value = exit.result?.summary?.[key]
  return typeof value === 'number' ? value : NaN
}

function turnViolationsOf(exit: RunExit): DemoTurnViolations {
  return { single_turn: summaryNumber(exit, 'violation_rate_single_turn'), multi_turn: summaryNumber(exit, 'violation_rate_multi_turn') }
}

/** Adherence by turn from the gatt run's metrics (gatt/base_adherence_turn_<n>, gatt/adherence_turn_<n>). */
function adherenceOf(home: string, exit: RunExit, turns: number): DemoAdherence {
  const store = Store.open(home)
  try {
    // A turn never reached is NaN (no metric logged for it).
    const byTurn = (prefix: string) => Array.from({ length: turns }, (_, t) => store.metricHistory(exit.runId, `${prefix}_turn_${t + 1}`).at(-1)?.value ?? NaN)
    return {
      turns,
      without: { mean: summaryNumber(exit, 'base_adherence_mean'), last_turn: summaryNumber(exit, 'base_adherence_last_turn'), by_turn: byTurn('gatt/base_adherence') },
      with: { mean: summaryNumber(exit, 'adherence_mean'), last_turn: summaryNumber(exit, 'adherence_last_turn'), by_turn: byTurn('gatt/adherence') },
    }
  } finally {
    store.close()
  }
}

/**
 * The annotation round on the policy's own samples (Llama 2 3.2.1: each week's preference data
 * came from the latest model): the SFT model answers training prompts twice, the gold judges
 * label each pair (gold_annotation), the pairs are imported as a preference dataset, and the
 * helpfulness reward model is trained again, from the SFT model, on the world's pairs plus these.
 * The RLHF rounds after it use this reward model. Never an eval prompt: the eval sets are excluded.
 */
async function runOnPolicyAnnotation(
  run: RunDemoStep,
  plan: DemoPlan,
  p: { size: WorldSize; prompts: string; evalSets: string[]; sft: string; rewardConfig: Record<string, unknown> },
): Promise<{ annotate: RunExit; dataset: RunExit; rmHelpful: RunExit }> {
  const annotate = await run('annotate', 'gold_annotation', { ...plan.annotate, policy: p.sft, prompts: p.prompts, exclude: p.evalSets }, `demo-${p.size} annotation on sft samples`)
  const pairsFile = annotate.result?.summary?.pairs_file
  if (typeof pairsFile !== 'string') throw new Error(`demo: annotation run ${annotate.runId} reported no pairs file`)
  const dataset = await run('annotate', 'preferences', { data: pairsFile, format: 'workbench' }, `demo-${p.size} on-policy preferences`)
  const data = [...(p.rewardConfig.data as string[]), dataset.runId]
  const rmHelpful = await run('reward', 'reward', { ...p.rewardConfig, data }, `demo-${p.size} reward helpfulness (with on-policy pairs)`)
  return { annotate, dataset, rmHelpful }
}

/**
 * One rejection-sampling round from the SFT model, then PPO from its checkpoint (Llama 2's last
 * round), both against the two reward models on the world's training prompts; each is evaluated
 * with the gold judges like base and SFT.
 */
async function runRlhfSteps(
  run: RunDemoStep,
  evalRun: (label: string, model: string) => Promise<RunExit>,
  plan: DemoPlan,
  p: { size: WorldSize; prompts: string; sft: string; rmHelpful: string; rmSafety: string },
): Promise<{ rs: RunExit; evalRs: RunExit; ppo: RunExit; evalPpo: RunExit }> {
  const models = { prompts: p.prompts, rm_helpful: p.rmHelpful, rm_safety: p.rmSafety }
  const rs = await run('rs', 'rejection_sampling', { ...plan.rs, ...models, policy: p.sft }, `demo-${p.size} rejection sampling`)
  const evalRs = await evalRun('rs', rs.runId)
  const ppo = await run('ppo', 'ppo', { ...plan.ppo, ...models, policy: rs.runId }, `demo-${p.size} ppo`)
  const evalPpo = await evalRun('ppo', ppo.runId)
  return { rs, evalRs, ppo, evalPpo }
}

/** RS's kept-vs-sampled reward and PPO's final objective, from the runs' summaries and metrics (NaN where missing). */
function rlhfFiguresOf(rs: RunExit, ppo: RunExit): DemoRlhfFigures {
  return {
    rs_kept_reward_mean: summaryNumber(rs, 'kept_reward_mean'),
    rs_sample_reward_mean: summaryNumber(rs, 'sample_reward_mean'),
    rs_rm_gold_agreement: summaryNumber(rs, 'rm_gold_agreement'),
    rs_rm_gold_pairs: summaryNumber(rs, 'rm_gold_pairs'),
    rs_gold_kept: summaryNumber(rs, 'gold_kept'),
    rs_gold_sampled: summaryNumber(rs, 'gold_sampled'),
    rs_gold_best_possible: summaryNumber(rs, 'gold_best_possible'),
    ppo_scores: summaryNumber(ppo, 'reward'),
    ppo_kl: summaryNumber(ppo, 'kl'),
    ppo_rlhf_reward: summaryNumber(ppo, 'rlhf_reward'),
  }
}

export function planWithOverrides(plan: DemoPlan, overrides: DemoOptions['overrides']): DemoPlan {
  const out = { ...plan }
  for (const step of DEMO_STEPS) out[step] = { ...plan[step], ...(overrides?.[step] ?? {}) }
  return out
}

/** Submits one run, forwards its events, waits for it; any end but 'finished' is an error naming the run. */
async function runStep(runner: JobRunner, opts: DemoOptions, step: DemoStep, req: Parameters<JobRunner['submit']>[0]): Promise<RunExit> {
  const emit = opts.onEvent ?? (() => {})
  if (opts.signal?.aborted) throw new Error('demo cancelled')
  const runId = runner.submit(req)
  emit({ type: 'step', step, message: `${req.name}: run ${runId}`, runId })
  const onEvent = (id: string, event: WorkerEvent) => {
    if (id !== runId) return
    if (event.type === 'progress') emit({ type: 'progress', step, progress: event })
    else if (event.type === 'log') emit({ type: 'log', step, message: event.message })
    else if (event.type === 'metric') emit({ type: 'metric', step, runId, metricStep: event.step, values: event.values })
  }
  const onAbort = () => runner.cancel(runId)
  runner.on('event', onEvent)
  opts.signal?.addEventListener('abort', onAbort)
  try {
    const exit = await runner.wait(runId)
    if (exit.status !== 'finished') {
      throw new Error(`demo: ${req.name} (run ${runId}) ended ${exit.status}${exit.error ? `: ${exit.error}` : ''}`)
    }
    return exit
  } finally {
    runner.off('event', onEvent)
    opts.signal?.removeEventListener('abort', onAbort)
  }
}

/** The absolute path of a run's artifact of one kind (e.g. the trained tokenizer.json). */
function artifactPath(home: string, runId: string, kind: string): string {
  const store = Store.open(home)
  try {
    const artifact = store.listArtifacts(runId, { kind })[0]
    if (!artifact) throw new Error(`demo: run ${runId} recorded no ${kind} artifact`)
    return store.absolutePath(artifact.path)
  } finally {
    store.close()
  }
}

/** The four table figures from a gold_eval run's summary (NaN when a set was empty). */
function scoresOf(exit: RunExit): DemoScores {
  const summary = exit.result?.summary ?? {}
  const get = (key: string) => (typeof summary[key] === 'number' ? (summary[key] as number) : NaN)
  return {
    gold_accuracy: get('gold_accuracy'),
    gold_helpfulness: get('gold_helpfulness'),
    violation_rate: get('violation_rate'),
    false_refusal_rate: get('false_refusal_rate'),
  }
}

/** A reward run's held-out figures from its summary (NaN where missing). */
function rewardScoresOf(exit: RunExit): DemoRewardScores {
  const summary = exit.result?.summary ?? {}
  const get = (key: string) => (typeof summary[key] === 'number' ? (summary[key] as number) : NaN)
  const byRating: Record<string, number> = {}
  for (const rating of PREFERENCE_RATINGS) {
    if (typeof summary[`eval_accuracy_${rating}`] === 'number') byRating[rating] = get(`eval_accuracy_${rating}`)
  }
  return {
    accuracy: get('eval_accuracy'),
    by_rating: byRating,
    baseline_shorter: get('baseline_shorter'),
    baseline_longer: get('baseline_longer'),
    baseline_bow: get('baseline_bow'),
    eval_pairs: get('eval_pairs'),
  }
}
