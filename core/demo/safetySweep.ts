// `workbench demo --safety-sweep`: Llama 2's finding on safety data in RLHF (section 4.2.3,
// Figure 15), at demo scale. From one SFT model and one pair of reward models, one
// rejection-sampling round per share of safety prompts (safety_prompt_share, the same budget of
// prompts each time), each RS model scored by the gold judges like the demo's other rows. The
// paper's shape: as the share grows, the violation rate falls while gold helpfulness holds.
//
// The SFT model and the reward models are reused when the home already holds them (a finished
// `workbench demo` of the same size and seed), else trained first as `workbench demo` does.
//
// Where RLHF starts matters: rejection sampling can only keep answers the policy samples. The
// demo's SFT model never refuses (its data is helpfulness only), so on adversarial prompts every
// candidate complies in some way and the best of K is often still a violation; more safety
// prompts then teach more compliance (measured, see docs/architecture.md). The row `safe` (the SFT
// model after targeted context distillation) has little left to fall. Llama 2 ran safety RLHF on
// a model whose SFT data already held safety demonstrations, so its samples held refusals for the
// safety reward model to select: `from: 'sft_safety'` (the default) starts from such a model,
// fine-tuned from the demo's pretrained model on the same SFT data with SWEEP_SAFETY_DEMO_SHARE of
// the adversarial training requests answered safely (sftTrainItems). The reward models are the
// demo's (trained from the helpfulness-only SFT model; they score answers, whoever samples them).
import type { RunExit } from '../jobs/runner'
import { Store } from '../tracking/store'
import { DEFAULT_DEMO_SEED } from './export'
import fs from 'node:fs'
import path from 'node:path'
import { targetedDistillConfig, writeDistillDemoFiles } from './distillDemo'
import { sftTrainItems, toSftLine } from './export'
import { generateSafetySets } from './safety'
import { generateTasks } from './tasks'
import { generateWorld } from './world'
import { DEMO_PLANS, demoEvalConfig, EXPERIMENT, planWithOverrides, prepareDemo, runFoundation, type DemoOptions, type DemoPlan, type DemoScores, type RunDemoStep } from './pipeline'
import type { WorldSize } from './world'

/** The shares swept unless the user names others. */
export const DEFAULT_SWEEP_SHARES = [0, 0.25, 0.5]

export interface SafetySweepRow {
  /** The safety_prompt_share the RS run was given (recorded in its config). */
  share: number
  /** The share of safety prompts the run actually drew (its param safety_share_drawn). */
  drawn_share: number
  run_id: string
  eval_run_id: string
  scores: DemoScores
}

export interface SafetySweepReport {
  size: WorldSize
  seed: number
  dataDir: string
  wallSeconds: number
  /** True when the SFT model and the reward models came from an earlier demo in this home. */
  reused: boolean
  /** Which model every share started from. */
  from: SweepStart
  runs: { sft: string; eval_sft: string; reward_helpfulness: string; reward_safety: string; start: string; eval_start: string }
  sft: DemoScores
  /** The starting policy's figures (the SFT model's again when from = 'sft'). */
  start: DemoScores
  rows: SafetySweepRow[]
}

export const SWEEP_STARTS = ['sft_safety', 'sft', 'safe'] as const
export type SweepStart = (typeof SWEEP_STARTS)[number]

export interface SafetySweepOptions extends DemoOptions {
  shares?: number[]
  /** The policy every share starts from: an SFT model with safety demonstrations (default), the demo's SFT model, or the row `safe`. */
  from?: SweepStart
}

export async function runSafetySweep(opts: SafetySweepOptions): Promise<SafetySweepReport> {
  const started = Date.now()
  const size = opts.size ?? 'default'
  const seed = opts.seed ?? DEFAULT_DEMO_SEED
  const shares = opts.shares ?? DEFAULT_SWEEP_SHARES
  for (const share of shares) if (!(share >= 0 && share <= 1)) throw new Error(`safety sweep: every share must be in 0..1, got ${share}`)
  const plan = planWithOverrides(DEMO_PLANS[size], opts.overrides)
  const { dataDir, file, run } = prepareDemo(opts, size, seed)

  const earlier = findFoundation(opts.home, size, dataDir)
  const base = earlier ?? (await trainFoundation(opts.home, run, plan, file, { dataDir, seed, size }))
  const evalConfig = demoEvalConfig(plan, file)
  const from = opts.from ?? 'sft_safety'
  const w = { dataDir, seed, size }
  const start =
    from === 'sft' ? { policy: base.sft, evalRun: base.evalSft } : from === 'safe' ? await distilledStart(opts.home, run, plan, w, base, evalConfig) : await safetyDemoStart(opts.home, run, plan, w, base, evalConfig)

  const rows: SafetySweepRow[] = []
  for (const share of shares) {
    const config = { ...plan.rs, prompts: file('rlhfPrompts'), policy: start.policy, rm_helpful: base.rmHelpful, rm_safety: base.rmSafety, safety_prompt_share: share }
    const rs = await run('rs', 'rejection_sampling', config, `demo-${size} rs safety share ${share} from ${from}`)
    const evalRs = await run('eval', 'gold_eval', { ...evalConfig, label: `rs share ${share}` }, `demo-${size} eval rs share ${share} from ${from}`, [{ role: 'model', runId: rs.runId }])
    rows.push({ share, drawn_share: drawnShare(opts.home, rs), run_id: rs.runId, eval_run_id: evalRs.runId, scores: goldScores(opts.home, evalRs.runId) })
  }
  return {
    size,
    seed,
    dataDir,
    wallSeconds: (Date.now() - started) / 1000,
    reused: earlier !== undefined,
    from,
    runs: { sft: base.sft, eval_sft: base.evalSft, reward_helpfulness: base.rmHelpful, reward_safety: base.rmSafety, start: start.policy, eval_start: start.evalRun },
    sft: goldScores(opts.home, base.evalSft),
    start: goldScores(opts.home, start.evalRun),
    rows,
  }
}

interface Foundation {
  sft: string
  evalSft: string
  rmHelpful: string
  rmSafety: string
}

/**
 * The demo's row `safe` as the sweep's start: the SFT model after targeted context distillation
 * (reused when the home holds one distilled from this SFT model), with its gold evaluation.
 */
async function distilledStart(
  home: string,
  run: RunDemoStep,
  plan: DemoPlan,
  w: { dataDir: string; seed: number; size: WorldSize },
  base: Foundation,
  evalConfig: Record<string, unknown>,
): Promise<{ policy: string; evalRun: string }> {
  const earlier = findFinetunedWithEval(home, `demo-${w.size} distill (targeted)`, `demo-${w.size} eval safe`, base.sft)
  if (earlier) return earlier
  const files = writeDistillDemoFiles(w.dataDir, w.seed, w.size)
  const distillConfig = targetedDistillConfig(plan.distill, files, base.sft, base.rmSafety)
  const distill = await run('distill', 'context_distillation', distillConfig, `demo-${w.size} distill (targeted)`)
  const evalSafe = await run('eval', 'gold_eval', { ...evalConfig, label: 'safe' }, `demo-${w.size} eval safe`, [{ role: 'model', runId: distill.runId }])
  return { policy: distill.runId, evalRun: evalSafe.runId }
}

/** Share of the adversarial training requests that the sweep's starting SFT data answers safely. */
export const SWEEP_SAFETY_DEMO_SHARE = 0.5
const safetyDemoSftFile = (share: number) => `sft_train_safety_demos_${Math.round(100 * share)}.jsonl`

/**
 * An SFT model like the demo's, but with SWEEP_SAFETY_DEMO_SHARE of the adversarial training
 * requests answered safely (reused when the home holds one fine-tuned from the same pretrained
 * model), with its gold evaluation.
 */
async function safetyDemoStart(
  home: string,
  run: RunDemoStep,
  plan: DemoPlan,
  w: { dataDir: string; seed: number; size: WorldSize },
  base: Foundation,
  evalConfig: Record<string, unknown>,
): Promise<{ policy: string; evalRun: string }> {
  const pretrain = pretrainOf(home, base.sft)
  // The share is in the names, so a home holding a start with another share does not reuse it.
  const label = `sft with ${Math.round(100 * SWEEP_SAFETY_DEMO_SHARE)}% safety demos`
  const name = `demo-${w.size} ${label}`
  const earlier = findFinetunedWithEval(home, name, `demo-${w.size} eval ${label}`, pretrain)
  if (earlier) return earlier
  const data = [writeSafetyDemoSft(w.dataDir, w.seed, w.size), writeDistillDemoFiles(w.dataDir, w.seed, w.size).instructedSft]
  const sft = await run('sft', 'sft', { ...plan.sft, base: pretrain, data }, name)
  const evalRun = await run('eval', 'gold_eval', { ...evalConfig, label }, `demo-${w.size} eval ${label}`, [{ role: 'model', runId: sft.runId }])
  return { policy: sft.runId, evalRun: evalRun.runId }
}

/** Writes the sweep's starting SFT data (sftTrainItems with SWEEP_SAFETY_DEMO_SHARE) next to the demo export; returns its path. */
export function writeSafetyDemoSft(dataDir: string, seed: number, size: WorldSize): string {
  const world = generateWorld(seed, size)
  const items = sftTrainItems(generateTasks(world), generateSafetySets(world), SWEEP_SAFETY_DEMO_SHARE)
  const file = path.join(dataDir, safetyDemoSftFile(SWEEP_SAFETY_DEMO_SHARE))
  fs.writeFileSync(file, items.map((it) => JSON.stringify(toSftLine(it))).join('\n') + '\n')
  return file
}

/** The pretrained model a demo SFT run started from (its config's base). */
function pretrainOf(home: string, sftRunId: string): string {
  const store = Store.open(home)
  try {
    const value = store.getRun(sftRunId).config.base
    if (typeof value !== 'string') throw new Error(`safety sweep: SFT run ${sftRunId} names no base model in its config`)
    return value
  } finally {
    store.close()
  }
}

/** A finished run named `name` fine-tuned from `base`, with a finished `evalName` run of it; undefined when none. */
function findFinetunedWithEval(home: string, name: string, evalName: string, base: string): { policy: string; evalRun: string } | undefined {
  const store = Store.open(home)
  try {
    const finished = store.listRuns({ experiment: EXPERIMENT, status: 'finished' })
    for (const model of finished.filter((r) => r.name === name && r.config.base === base)) {
      const evalRun = finished.find((r) => r.name === evalName && store.getRun(r.id).parents.some((p) => p.runId === model.id))
      if (evalRun) return { policy: model.id, evalRun: evalRun.id }
    }
    return undefined
  } finally {
    store.close()
  }
}

async function trainFoundation(...args: Parameters<typeof runFoundation>): Promise<Foundation> {
  const f = await runFoundation(...args)
  return { sft: f.sft.runId, evalSft: f.evalSft.runId, rmHelpful: f.rmHelpful.runId, rmSafety: f.rmSafety.runId }
}

/**
 * The newest finished demo SFT run of this size trained on this data folder, with its gold
 * evaluation and the two reward models trained from it; undefined when any of them is missing.
 */
export function findFoundation(home: string, size: WorldSize, dataDir: string): Foundation | undefined {
  const store = Store.open(home)
  try {
    const finished = store.listRuns({ experiment: EXPERIMENT, status: 'finished' }) // newest first
    const named = (name: string) => finished.filter((r) => r.name === `demo-${size} ${name}`)
    // A run created before the data was last written (an earlier data version's export, written
    // again by ensureDemoExport) did not learn from these files.
    const writtenAt = fs.statSync(path.join(dataDir, 'manifest.json')).mtimeMs
    for (const sft of named('sft')) {
      if (sft.createdAt < writtenAt) continue
      const data = sft.config.data
      if (!Array.isArray(data) || !data.some((f) => typeof f === 'string' && f.startsWith(dataDir))) continue
      const fromSft = (name: string) => named(name).find((r) => r.config.base === sft.id)?.id
      const evalSft = named('eval sft').find((r) => store.getRun(r.id).parents.some((p) => p.runId === sft.id))?.id
      const rmHelpful = fromSft('reward helpfulness')
      const rmSafety = fromSft('reward safety')
      if (evalSft && rmHelpful && rmSafety) return { sft: sft.id, evalSft, rmHelpful, rmSafety }
    }
    return undefined
  } finally {
    store.close()
  }
}

/** A gold_eval run's four figures, from the metrics it recorded (NaN where missing). */
function goldScores(home: string, evalRunId: string): DemoScores {
  const store = Store.open(home)
  try {
    const m = store.getRun(evalRunId).metrics
    const get = (key: string) => m[`eval/${key}`] ?? NaN
    return { gold_accuracy: get('gold_accuracy'), gold_helpfulness: get('gold_helpfulness'), violation_rate: get('violation_rate'), false_refusal_rate: get('false_refusal_rate') }
  } finally {
    store.close()
  }
}

function drawnShare(home: string, rs: RunExit): number {
  const store = Store.open(home)
  try {
    const value = store.getRun(rs.runId).params.safety_share_drawn
    return typeof value === 'number' ? value : NaN
  } finally {
    store.close()
  }
}
