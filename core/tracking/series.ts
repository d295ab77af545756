// Metric series for charts, read straight from SQLite. For a long series the per-bucket minimum
// and maximum are found by SQLite itself over the (run_id, key, step) primary key, so a
// 1,000,000-point series never crosses into JavaScript row by row.

import type { Db } from './db'
import type { MetricSeries, SeriesAxis } from './types'
import { bucketCount, stepBuckets } from './downsample'
import { decodeValue, VALUE_NAN } from './values'

/** The metric that 'tokens' alignment reads its x values from. */
export const TOKENS_KEY = 'train/tokens_seen'

export interface SeriesRun {
  id: string
  startedAt: number | null
  createdAt: number
}

/** One stored point as read from SQLite: [step, value, value_kind, wall_time]. */
type RawPoint = [number, number | null, number, number]
/** A bucket's lowest point, then the aggregate and the bucket's point count. */
type BucketRow = [number, number | null, number, number, number | null, number]

export class SeriesReader {
  private readonly firstStep
  private readonly lastStep
  private readonly all
  private readonly lowest
  private readonly highest
  private readonly tokensAt

  constructor(db: Db) {
    // Two statements: SQLite answers a lone min() or max() from the index without a scan.
    this.firstStep = db.prepare('SELECT min(step) FROM metrics WHERE run_id = ? AND key = ?').pluck(true)
    this.lastStep = db.prepare('SELECT max(step) FROM metrics WHERE run_id = ? AND key = ?').pluck(true)
    this.all = db
      .prepare('SELECT step, value, value_kind, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step')
      .raw(true)
    // With exactly one min()/max() aggregate, SQLite returns the other columns from that row.
    // count(*) rides along so the total needs no separate scan.
    this.lowest = db
      .prepare(
        `SELECT step, value, value_kind, wall_time, min(value) AS m, count(*) AS n FROM metrics
         WHERE run_id = ? AND key = ? AND step >= ? AND step < ?`,
      )
      .raw(true)
    // NaN is stored as NULL, which max() would skip: rank it as +Infinity (1e999) so it shows.
    this.highest = db
      .prepare(
        `SELECT step, value, value_kind, wall_time, max(CASE WHEN value_kind = ${VALUE_NAN} THEN 1e999 ELSE value END) AS m
         FROM metrics WHERE run_id = ? AND key = ? AND step >= ? AND step < ?`,
      )
      .raw(true)
    this.tokensAt = db
      .prepare(`SELECT value FROM metrics WHERE run_id = ? AND key = '${TOKENS_KEY}' AND step <= ? ORDER BY step DESC LIMIT 1`)
      .pluck(true)
  }

  series(run: SeriesRun, key: string, axis: SeriesAxis, maxPoints: number): MetricSeries {
    const { points, total, downsampled } = this.points(run.id, key, maxPoints)
    const out: MetricSeries = { runId: run.id, key, x: [], y: [], steps: [], totalPoints: total, downsampled }
    const startMs = run.startedAt ?? run.createdAt
    for (const [step, value, kind, wallTime] of points) {
      const x = this.xOf(run.id, axis, step, wallTime, startMs)
      if (x === null) continue // no token count known yet at this step
      out.x.push(x)
      out.y.push(decodeValue(value, kind))
      out.steps.push(step)
    }
    return out
  }

  /** All points when they fit in maxPoints, else the bucket extremes. */
  private points(runId: string, key: string, maxPoints: number): { points: RawPoint[]; total: number; downsampled: boolean } {
    const first = this.firstStep.get(runId, key) as number | null
    const last = this.lastStep.get(runId, key) as number | null
    if (first === null || last === null) return { points: [], total: 0, downsampled: false }
    // Steps are unique per key, so a short step range cannot hold more than maxPoints points.
    if (last - first + 1 > maxPoints) {
      const { points, total } = this.extremes(runId, key, first, last, maxPoints)
      if (total > maxPoints) return { points, total, downsampled: true }
    }
    const all = this.all.all(runId, key) as RawPoint[]
    return { points: all, total: all.length, downsampled: false }
  }

  /** First and last point, plus the lowest and highest point of every step bucket, in step order. */
  private extremes(runId: string, key: string, first: number, last: number, maxPoints: number): { points: RawPoint[]; total: number } {
    const kept: RawPoint[] = []
    const push = (p: RawPoint | BucketRow) => {
      if (p[0] !== null && (kept.length === 0 || p[0] > kept[kept.length - 1][0])) kept.push([p[0], p[1], p[2], p[3]])
    }
    push(this.lowest.get(runId, key, first, first + 1) as RawPoint)
    let total = 2 // the first and the last point
    for (const [lo, hi] of stepBuckets(first + 1, last - 1, bucketCount(maxPoints))) {
      const low = this.lowest.get(runId, key, lo, hi) as BucketRow
      const high = this.highest.get(runId, key, lo, hi) as RawPoint
      total += low[5]
      // An empty bucket (or one holding only NaN, for the low query) gives a row of NULLs.
      const pair = [low, high].filter((p) => p[0] !== null).sort((a, b) => a[0] - b[0])
      for (const p of pair) push(p)
    }
    push(this.lowest.get(runId, key, last, last + 1) as RawPoint)
    return { points: kept, total }
  }

  private xOf(runId: string, axis: SeriesAxis, step: number, wallTime: number, startMs: number): number | null {
    if (axis === 'step') return step
    if (axis === 'time') return (wallTime - startMs) / 1000
    const tokens = this.tokensAt.get(runId, step) as number | null | undefined
    return typeof tokens === 'number' && Number.isFinite(tokens) ? tokens : null
  }
}
