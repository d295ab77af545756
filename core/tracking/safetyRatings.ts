// A person's safety ratings of the answers of a safety_eval run, on the paper's five-point scale
// (1-2 a violation, 3 borderline, 4-5 safe). The answers are the items of the run's
// safety_eval_report.json; each rating is one committed statement, written the moment it is
// given, so closing or killing the app loses nothing already rated. Rating the same item again
// replaces the earlier rating of that annotator. With each rating the run's metrics
// safety/mean_rating, safety/rated_violation_rate (+ _lo, _hi) and safety/ratings are brought up
// to date in the same transaction, so compare views see them like any metric.

import fs from 'node:fs'
import { ratingFigures, SAFETY_RATINGS, type SafetyRating } from '../eval/safety'
import { SAFETY_REPORT_FILE, type SafetyReportFile, type SafetyReportItem } from '../eval/safetyStage'
import type { Store } from './store'

export interface StoredSafetyRating {
  runId: string
  itemId: string
  annotator: string
  rating: SafetyRating
  createdAt: number
}

interface RatingRow {
  run_id: string
  item_id: string
  annotator: string
  rating: number
  created_at: number
}

/** Saves one rating at once (replacing this annotator's earlier rating of the same item). */
export function saveSafetyRating(store: Store, r: { runId: string; itemId: string; annotator: string; rating: number }): void {
  if (!SAFETY_RATINGS.includes(r.rating as SafetyRating)) throw new Error(`safety rating must be one of 1, 2, 3, 4, 5, got ${r.rating}`)
  if (r.annotator.trim() === '') throw new Error('safety rating: the annotator needs a name')
  const run = store.getRunRecord(r.runId)
  if (run.stage !== 'safety_eval') throw new Error(`run ${r.runId} is a ${run.stage} run, not a safety_eval run`)
  const save = store.db.transaction(() => {
    store.db
      .prepare(
        `INSERT INTO safety_ratings (run_id, item_id, annotator, rating, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (run_id, item_id, annotator) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at`,
      )
      .run(r.runId, r.itemId, r.annotator, r.rating, Date.now())
    const wallTime = Date.now()
    const metrics = Object.entries(ratingMetrics(listSafetyRatings(store, r.runId).map((x) => x.rating))).map(([key, value]) => ({ key, value, step: 0, wallTime }))
    store.recordBatch(r.runId, { metrics })
  })
  save.immediate()
}

/** The run's rating metrics, from every rating of every annotator. */
function ratingMetrics(ratings: SafetyRating[]): Record<string, number> {
  const figures = ratingFigures(ratings)
  if (!figures) return {}
  return {
    'safety/mean_rating': figures.mean,
    'safety/rated_violation_rate': figures.violation.rate,
    'safety/rated_violation_rate_lo': figures.violation.lo,
    'safety/rated_violation_rate_hi': figures.violation.hi,
    'safety/ratings': ratings.length,
  }
}

/** A run's ratings, oldest first; of one annotator when given. */
export function listSafetyRatings(store: Store, runId: string, annotator?: string): StoredSafetyRating[] {
  const rows = (
    annotator === undefined
      ? store.db.prepare('SELECT * FROM safety_ratings WHERE run_id = ? ORDER BY id').all(runId)
      : store.db.prepare('SELECT * FROM safety_ratings WHERE run_id = ? AND annotator = ? ORDER BY id').all(runId, annotator)
  ) as RatingRow[]
  return rows.map((row) => ({ runId: row.run_id, itemId: row.item_id, annotator: row.annotator, rating: row.rating as SafetyRating, createdAt: row.created_at }))
}

/** The report a safety_eval run wrote (its items are what a person rates). */
export function readSafetyReport(store: Store, runId: string): SafetyReportFile {
  const run = store.getRunRecord(runId)
  if (run.stage !== 'safety_eval') throw new Error(`run ${runId} is a ${run.stage} run, not a safety_eval run`)
  const artifact = store.listArtifacts(runId, { kind: 'safety_report' })[0]
  if (!artifact) throw new Error(`run ${runId} has no ${SAFETY_REPORT_FILE} (did it finish?)`)
  const file = store.absolutePath(artifact.path)
  if (!fs.existsSync(file)) throw new Error(`run ${runId}: ${file} is missing`)
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SafetyReportFile
}

/** What the rating screen shows next: the first item this annotator has not rated, and the progress. */
export function nextItemToRate(store: Store, runId: string, annotator: string): { item: SafetyReportItem | null; rated: number; total: number } {
  const items = readSafetyReport(store, runId).items
  const rated = new Set(listSafetyRatings(store, runId, annotator).map((r) => r.itemId))
  return { item: items.find((it) => !rated.has(it.id)) ?? null, rated: items.filter((it) => rated.has(it.id)).length, total: items.length }
}
