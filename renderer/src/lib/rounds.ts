// The chain of RLHF rounds a run belongs to (RLHF-V1 -> V2 -> ...): up through `policy` parents to
// the model the first round started from, and down through the RLHF runs started from it. Each
// round shows its reward and, in the demo world, the gold judges' figures.
import type { RunSummary, WorkbenchApi } from '../../../electron/shared/api'

export const RLHF_STAGES = ['rejection_sampling', 'ppo']

/** Rounds deeper than this are not followed (a guard; real chains have a handful). */
const MAX_ROUNDS = 50

/** What a round reports as its reward: rejection sampling's kept answers, else PPO's scores. */
export function roundReward(run: RunSummary): number | null {
  return run.latest['rs/kept_reward_mean'] ?? run.latest['objective/scores'] ?? null
}

/** The chain through `run`, oldest first: the starting policy (any stage), then the RLHF rounds. */
export async function loadRoundsChain(api: Pick<WorkbenchApi, 'runsLineage'>, run: RunSummary): Promise<RunSummary[]> {
  const before: RunSummary[] = []
  let cursor: RunSummary = run
  for (let i = 0; i < MAX_ROUNDS && RLHF_STAGES.includes(cursor.stage); i++) {
    const policy = (await api.runsLineage({ id: cursor.id })).parents.find((p) => p.role === 'policy')
    if (!policy) break
    before.unshift(policy)
    cursor = policy
  }
  const after: RunSummary[] = []
  cursor = run
  for (let i = 0; i < MAX_ROUNDS; i++) {
    const next = (await api.runsLineage({ id: cursor.id })).children.find((c) => RLHF_STAGES.includes(c.stage))
    if (!next) break
    after.push(next)
    cursor = next
  }
  return [...before, run, ...after]
}
