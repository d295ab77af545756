// `workbench leaderboard [--json]`: every model compared in a finished winrate run, ranked by a
// Bradley-Terry fit over all the recorded pairwise results (core/eval/leaderboard.ts), with
// bootstrap 95% intervals. Machine-judged runs count by their win / tie / loss metrics; runs
// judged by people count their ratings so far (core/tracking/winrateJudgements.ts).
import { leaderboard, type Match, type Standing } from '../eval/leaderboard'
import { humanOutcome, tally } from '../eval/winrate'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import type { RunDetails } from '../tracking/types'
import { listWinrateJudgements } from '../tracking/winrateJudgements'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench leaderboard [--reps 200] [--seed 0] [--json]',
  '',
  'Ranks every model compared in a finished winrate run (workbench winrate) by a Bradley-Terry fit over all the',
  'pairwise results, as an Elo-like rating (1000 = the average player; +400 = ten times the odds) with a bootstrap',
  '95% interval. A model is named by its run id, or by its folder when it was given as one.',
].join('\n')

const OPTIONS = { ...COMMON_OPTIONS, reps: { type: 'string' as const }, seed: { type: 'string' as const } }

/** A compared model's name: its run id (a recorded parent), else the folder or id the config gave. */
function modelName(run: RunDetails, role: 'model_a' | 'model_b'): string {
  const parent = run.parents.find((p) => p.role === role)
  return parent?.runId ?? String(run.config[role] ?? '?')
}

/** One match per finished winrate run with at least one verdict. */
export function matchesFromStore(store: Store): Match[] {
  const matches: Match[] = []
  for (const summary of store.listRuns({ stage: 'winrate', status: 'finished' })) {
    const run = store.getRun(summary.id)
    const base = { a: modelName(run, 'model_a'), b: modelName(run, 'model_b') }
    if (base.a === base.b) continue // a model against itself says nothing about its rank
    if (run.config.judge === 'human') {
      const counts = tally(listWinrateJudgements(store, run.id).map((j) => humanOutcome(j.rating, j.aOnLeft)))
      if (counts.n > 0) matches.push({ ...base, wins: counts.wins, ties: counts.ties, losses: counts.losses })
      continue
    }
    const m = run.metrics
    const n = m['winrate/n']
    if (!(n > 0)) continue
    const wins = Math.round(m['winrate/win'] * n)
    const ties = Math.round(m['winrate/tie'] * n)
    matches.push({ ...base, wins, ties, losses: n - wins - ties })
  }
  return matches
}

export function leaderboardFromStore(store: Store, opts: { seed?: number; reps?: number } = {}): { standings: Standing[]; matches: Match[] } {
  const matches = matchesFromStore(store)
  return { standings: matches.length === 0 ? [] : leaderboard(matches, opts), matches }
}

function wholeNumber(text: unknown, flag: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`leaderboard: --${flag} must be a whole number >= 0, got "${String(text)}"`)
  return n
}

export async function runLeaderboardCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, OPTIONS, 'leaderboard')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  const reps = wholeNumber(v.reps, 'reps', 200)
  const seed = wholeNumber(v.seed, 'seed', 0)
  const store = Store.open(resolveHome(v.home as string | undefined))
  try {
    const { standings, matches } = leaderboardFromStore(store, { reps, seed })
    if (v.json) {
      standings.forEach((s, i) => io.out(jsonLine({ rank: i + 1, ...s })))
      return 0
    }
    if (standings.length === 0) {
      io.out('no pairwise results yet: run `workbench winrate --a <run> --b <run> --prompts <file> ...` first')
      return 0
    }
    io.out(`${matches.length} comparison(s), ${standings.length} models`)
    io.out('rank  rating  95% interval     games  model')
    standings.forEach((s, i) => {
      io.out(`${String(i + 1).padStart(4)}  ${s.rating.toFixed(0).padStart(6)}  [${s.lo.toFixed(0).padStart(5)}, ${s.hi.toFixed(0).padStart(5)}]  ${String(s.games).padStart(6)}  ${s.model}`)
    })
    return 0
  } finally {
    store.close()
  }
}
