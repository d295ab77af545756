// People's verdicts on a `winrate` run with judge=human (the app's Win rate screen). The run wrote
// its pairs to winrate_pairs.jsonl, each with the side model A is shown on (a seeded coin); a person
// sees the two answers as left and right only, rates them on the paper's seven-point scale, and
// each rating is saved the moment it is made (one row per run, pair and annotator; rating again
// replaces it). The figures are those of the machine judges (core/eval/winrate.ts).

import type { ChatMessage } from '../data/chatTemplate'
import { humanOutcome, winRateFigures, type SevenPoint, type WinRateFigures } from '../eval/winrate'
import { PAIRS_ARTIFACT, readPairs, type WinratePair } from '../train/stages/winrate'
import type { Store } from './store'

/** A pair as a person sees it: no model names, A's side hidden. */
export interface BlindPair {
  index: number
  messages: ChatMessage[]
  left: string
  right: string
  /** This annotator's rating, when already given (from the left answer's side). */
  rating: SevenPoint | null
}

export interface WinrateJudgement {
  pairIndex: number
  annotator: string
  rating: SevenPoint
  aOnLeft: boolean
  createdAt: number
}

/** The pairs a winrate run wrote; an error naming the run when it has none. */
export function winratePairs(store: Store, runId: string): WinratePair[] {
  const run = store.getRun(runId)
  if (run.stage !== 'winrate') throw new Error(`run ${runId} is a ${run.stage} run, not a winrate run`)
  const artifact = store.listArtifacts(runId, { kind: PAIRS_ARTIFACT })[0]
  if (!artifact) throw new Error(`winrate run ${runId} has no pairs yet (it writes them when both models have answered)`)
  return readPairs(store.absolutePath(artifact.path))
}

export function blindPairs(store: Store, runId: string, annotator: string): BlindPair[] {
  const given = new Map(listWinrateJudgements(store, runId).filter((j) => j.annotator === annotator).map((j) => [j.pairIndex, j.rating]))
  return winratePairs(store, runId).map((p) => ({
    index: p.index,
    messages: p.messages,
    left: p.a_first ? p.answer_a : p.answer_b,
    right: p.a_first ? p.answer_b : p.answer_a,
    rating: given.get(p.index) ?? null,
  }))
}

/** Saves (or replaces) one rating, committed at once. */
export function saveWinrateJudgement(store: Store, j: { runId: string; pairIndex: number; annotator: string; rating: number }): void {
  if (!Number.isInteger(j.rating) || j.rating < -3 || j.rating > 3) throw new Error(`rating must be a whole number from -3 to 3, got ${j.rating}`)
  const pair = winratePairs(store, j.runId).find((p) => p.index === j.pairIndex)
  if (!pair) throw new Error(`winrate run ${j.runId} has no pair ${j.pairIndex}`)
  if (j.annotator.trim() === '') throw new Error('annotator must not be empty')
  store.db
    .prepare(
      `INSERT INTO winrate_judgements (run_id, pair_index, annotator, rating, a_on_left, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, pair_index, annotator) DO UPDATE SET rating = excluded.rating, a_on_left = excluded.a_on_left, created_at = excluded.created_at`,
    )
    .run(j.runId, j.pairIndex, j.annotator, j.rating, pair.a_first ? 1 : 0, Date.now())
}

export function listWinrateJudgements(store: Store, runId: string): WinrateJudgement[] {
  const rows = store.db
    .prepare('SELECT pair_index, annotator, rating, a_on_left, created_at FROM winrate_judgements WHERE run_id = ? ORDER BY pair_index, annotator')
    .all(runId) as { pair_index: number; annotator: string; rating: number; a_on_left: number; created_at: number }[]
  return rows.map((r) => ({ pairIndex: r.pair_index, annotator: r.annotator, rating: r.rating as SevenPoint, aOnLeft: r.a_on_left === 1, createdAt: r.created_at }))
}

/** Win / tie / loss of A from people's ratings (each rating one observation), or null before any. */
export function humanWinrateFigures(store: Store, runId: string, opts: { seed?: number; reps?: number } = {}): WinRateFigures | null {
  const judgements = listWinrateJudgements(store, runId)
  if (judgements.length === 0) return null
  const pairs = new Map(winratePairs(store, runId).map((p) => [p.index, p]))
  const outcomes = judgements.map((j) => humanOutcome(j.rating, j.aOnLeft))
  const lengthDiffs = judgements.map((j) => pairs.get(j.pairIndex)!.tokens_a - pairs.get(j.pairIndex)!.tokens_b)
  return winRateFigures(outcomes, lengthDiffs, { seed: opts.seed ?? 0, reps: opts.reps ?? 1000 })
}
