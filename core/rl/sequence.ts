// Llama 2's iterated RLHF (section 3.2.3) as a sequence of runs: N rounds, each its own run named
// RLHF-V1, V2 ... and linked to its parents (the policy it starts from, the reward models); each
// round's checkpoint is the next round's policy. Method `rs` runs rejection sampling every round,
// `ppo` PPO every round, `rs+ppo` PPO on top of rejection sampling in the last round (as Llama 2's
// V5). Shared by `workbench rlhf` (core/cli/rlhf.ts) and the app's RLHF form (the rlhf:* channels):
// each caller says how a round's config is built and how a round is waited for.
import type { JobRunner } from '../jobs/runner'
import { resolveModelRef } from '../jobs/checkpoints'
import { Store } from '../tracking/store'
import { earlierRounds } from '../train/stages/rejectionSampling'
import { listStages } from '../train/stages/registry'
import type { StageDefinition } from '../train/stages/types'

export const RLHF_METHODS = ['rs', 'ppo', 'rs+ppo'] as const
export type RlhfMethod = (typeof RLHF_METHODS)[number]

/** What a sequence starts from and how it goes on. Paths absolute, run ids as they are. */
export interface RlhfPlan {
  policy: string
  prompts: string
  rmHelpful?: string
  rmSafety?: string
  rounds: number
  method: RlhfMethod
  /** A second prompt file whose prompts are all safety prompts. */
  safetyPrompts?: string
  /** The share of safety prompts each round draws (unset: the files' own mix). */
  safetyPromptShare?: number
}

/** One round as it was started. */
export interface RlhfRound {
  round: number
  version: string
  stage: string
  runId: string
  /** The run id or checkpoint the round started from. */
  policy: string
}

/** A plan that cannot run: the caller shows the message as its own kind of error. */
export class RlhfPlanError extends Error {}

/** The stage of round `round` (1-based) of `rounds`. */
export function stageOfRound(method: RlhfMethod, round: number, rounds: number): 'rejection_sampling' | 'ppo' {
  if (method === 'ppo' || (method === 'rs+ppo' && round === rounds)) return 'ppo'
  return 'rejection_sampling'
}

/** Every round's stage; a method whose stage this build lacks, or a plan without reward model, is refused before anything runs. */
export function roundStages(plan: RlhfPlan): Map<number, StageDefinition> {
  if (!plan.rmHelpful && !plan.rmSafety) throw new RlhfPlanError('rlhf: give a reward model: a helpfulness one, a safety one, or both')
  if (!Number.isInteger(plan.rounds) || plan.rounds < 1) throw new RlhfPlanError(`rlhf: rounds must be a whole number >= 1, got ${plan.rounds}`)
  if (!RLHF_METHODS.includes(plan.method)) throw new RlhfPlanError(`rlhf: method must be one of ${RLHF_METHODS.join(', ')}, got "${plan.method}"`)
  const registered = listStages()
  const out = new Map<number, StageDefinition>()
  for (let round = 1; round <= plan.rounds; round++) {
    const name = stageOfRound(plan.method, round, plan.rounds)
    const stage = registered.find((s) => s.name === name)
    if (!stage) {
      throw new RlhfPlanError(
        `rlhf: method ${plan.method} needs the "${name}" stage, which this build does not have (stages: ${registered.map((s) => s.name).join(', ')}); use method rs`,
      )
    }
    out.set(round, stage)
  }
  return out
}

/** The config keys a round gets from the plan (rejection_sampling's and ppo's names agree). */
export function roundKeys(plan: RlhfPlan, policy: string): Record<string, unknown> {
  return {
    policy,
    prompts: plan.prompts,
    rm_helpful: plan.rmHelpful,
    rm_safety: plan.rmSafety,
    safety_prompts: plan.safetyPrompts,
    safety_prompt_share: plan.safetyPromptShare,
  }
}

/** The version number of the first new round: one past the RLHF rounds the policy already descends from. */
export function firstVersion(home: string, policy: string): number {
  const store = Store.open(home)
  try {
    const ref = resolveModelRef(store, policy, 'policy')
    return earlierRounds(store, ref.runId).length + 1
  } finally {
    store.close()
  }
}

export interface RlhfSequenceOptions {
  home: string
  runner: JobRunner
  plan: RlhfPlan
  /** A round's whole config from the plan's keys (the caller adds its own settings; throws on a bad one). */
  configFor: (stage: StageDefinition, keys: Record<string, unknown>) => Record<string, unknown>
  experiment?: string
  /** Called as each round is submitted. */
  onRound?: (round: RlhfRound) => void
  /** Waits for a round's run; true when it finished (then the next round starts). */
  waitFor: (runId: string) => Promise<boolean>
  /** Aborting cancels the round in progress and starts no other. */
  signal?: AbortSignal
}

export interface RlhfSequenceResult {
  rounds: RlhfRound[]
  /** True when every round finished. */
  completed: boolean
}

/**
 * Checks every round's config (with the first policy standing in), then runs the rounds one after
 * another; a round that does not finish, or an abort, ends the sequence.
 */
export async function runRlhfSequence(opts: RlhfSequenceOptions): Promise<RlhfSequenceResult> {
  const { plan, runner } = opts
  const stages = roundStages(plan)
  for (const stage of new Set(stages.values())) opts.configFor(stage, roundKeys(plan, plan.policy))
  const first = firstVersion(opts.home, plan.policy)

  const rounds: RlhfRound[] = []
  let policy = plan.policy
  for (let round = 1; round <= plan.rounds; round++) {
    if (opts.signal?.aborted) return { rounds, completed: false }
    const stage = stages.get(round)!
    const version = `RLHF-V${first + round - 1}`
    const runId = runner.submit({ stage: stage.name, config: opts.configFor(stage, roundKeys(plan, policy)), name: version, experiment: opts.experiment })
    const started: RlhfRound = { round, version, stage: stage.name, runId, policy }
    rounds.push(started)
    opts.onRound?.(started)
    const cancel = () => runner.cancel(runId)
    opts.signal?.addEventListener('abort', cancel)
    if (opts.signal?.aborted) cancel()
    try {
      if (!(await opts.waitFor(runId))) return { rounds, completed: false }
    } finally {
      opts.signal?.removeEventListener('abort', cancel)
    }
    policy = runId
  }
  return { rounds, completed: !opts.signal?.aborted }
}
