// What a run's tracker records: metrics, events and samples (written in batches by recordBatch,
// the hot path), and reading them back: metric keys, histories, chart series, comparisons.

import type { Db } from '../db'
import { diffConfigs, metricDirection } from '../compare'
import type { SeriesReader } from '../series'
import { decodeValue, encodeValue } from '../values'
import type { MetricComparison, MetricPoint, MetricSeries, RunComparison, RunSummary, SeriesQuery, StoredEvent, StoredSample } from '../types'
import { getRunRecord } from './rows'

/** One buffered write from a tracker, committed as one transaction. */
export interface RecordBatch {
  metrics?: { step: number; key: string; value: number; wallTime: number }[]
  /** seq: the event's order among those of its (step, kind) in this process; a replay reuses it (replaces). */
  events?: { kind: string; message: string; data?: unknown; step?: number; seq?: number; time: number }[]
  /** seq: the sample's order among those of its step; a replay reuses it (replaces). */
  samples?: { step: number; prompt: string; response: string; scores?: Record<string, number>; seq?: number; time: number }[]
}

const DEFAULT_MAX_POINTS = 2000

/** The tracker's writes, with their statements prepared once (recordBatch runs every few steps). */
export class Recorder {
  private readonly insertMetric
  private readonly upsertLatest
  private readonly insertEvent
  private readonly insertSample
  private readonly touchHeartbeat

  constructor(private readonly db: Db) {
    this.insertMetric = db.prepare(
      'INSERT OR REPLACE INTO metrics (run_id, key, step, value, value_kind, wall_time) VALUES (?, ?, ?, ?, ?, ?)',
    )
    // The latest value is the one at the highest step (a replayed lower step does not win).
    this.upsertLatest = db.prepare(
      `INSERT INTO latest_metrics (run_id, key, step, value, value_kind, wall_time) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value,
         value_kind = excluded.value_kind, wall_time = excluded.wall_time
       WHERE excluded.step >= latest_metrics.step`,
    )
    // OR REPLACE: a replayed step's event or sample (same step, kind, seq) replaces the first one.
    this.insertEvent = db.prepare('INSERT OR REPLACE INTO events (run_id, step, kind, seq, message, data, time) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.insertSample = db.prepare(
      'INSERT OR REPLACE INTO samples (run_id, step, seq, prompt, response, scores, time) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    this.touchHeartbeat = db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'")
  }

  /** Commits buffered metrics, events and samples in one transaction, and heartbeats. */
  recordBatch(runId: string, batch: RecordBatch): void {
    const write = this.db.transaction(() => {
      const latest = new Map<string, { step: number; value: number; wallTime: number }>()
      for (const m of batch.metrics ?? []) {
        const [value, kind] = encodeValue(m.value)
        this.insertMetric.run(runId, m.key, m.step, value, kind, m.wallTime)
        const seen = latest.get(m.key)
        if (!seen || m.step >= seen.step) latest.set(m.key, m)
      }
      for (const [key, m] of latest) {
        const [value, kind] = encodeValue(m.value)
        this.upsertLatest.run(runId, key, m.step, value, kind, m.wallTime)
      }
      for (const e of batch.events ?? []) {
        this.insertEvent.run(runId, e.step ?? null, e.kind, e.seq ?? null, e.message, e.data === undefined ? null : JSON.stringify(e.data), e.time)
      }
      for (const s of batch.samples ?? []) {
        this.insertSample.run(runId, s.step, s.seq ?? null, s.prompt, s.response, JSON.stringify(s.scores ?? {}), s.time)
      }
      this.touchHeartbeat.run(Date.now(), runId)
    })
    // IMMEDIATE takes the write lock up front, so a busy database waits (busy_timeout) instead of failing mid-batch.
    write.immediate()
  }

  /** Records that the owner is alive. Returns false when the run is no longer 'running'. */
  heartbeat(id: string): boolean {
    return this.touchHeartbeat.run(Date.now(), id).changes === 1
  }
}

export function metricKeys(db: Db, runId: string): string[] {
  return db.prepare('SELECT key FROM latest_metrics WHERE run_id = ? ORDER BY key').pluck(true).all(runId) as string[]
}

/** Every stored point of one metric, in step order (exports; charts use metricSeries). */
export function metricHistory(db: Db, runId: string, key: string): MetricPoint[] {
  const rows = db
    .prepare('SELECT step, value, value_kind, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step')
    .all(runId, key) as { step: number; value: number | null; value_kind: number; wall_time: number }[]
  return rows.map((r) => ({ step: r.step, value: decodeValue(r.value, r.value_kind), wallTime: r.wall_time }))
}

/** One series per (run, key), aligned on step, tokens seen or wall time, at most maxPoints each. */
export function metricSeries(db: Db, series: SeriesReader, query: SeriesQuery): MetricSeries[] {
  const maxPoints = query.maxPoints ?? DEFAULT_MAX_POINTS
  if (!Number.isInteger(maxPoints) || maxPoints < 4) throw new Error(`metricSeries: maxPoints must be an integer >= 4, got ${maxPoints}`)
  const axis = query.x ?? 'step'
  if (!['step', 'tokens', 'time'].includes(axis)) throw new Error(`metricSeries: x must be step, tokens or time, got "${axis}"`)
  const out: MetricSeries[] = []
  for (const runId of query.runIds) {
    const run = getRunRecord(db, runId)
    for (const key of query.keys) out.push(series.series(run, key, axis, maxPoints))
  }
  return out
}

/** Config differences, and the final and best value of every metric, of these runs side by side. */
export function compareRuns(db: Db, runs: RunSummary[]): RunComparison {
  if (runs.length === 0) throw new Error('compareRuns: give at least one run id')
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort()
  const metrics: MetricComparison[] = keys.map((key) => {
    const better = metricDirection(key)
    const best = runs.map((r) => (better ? bestValue(db, r.id, key, better) : null))
    return {
      key,
      better,
      final: runs.map((r) => (key in r.metrics ? r.metrics[key] : null)),
      best: best.map((b) => b?.value ?? null),
      bestStep: best.map((b) => b?.step ?? null),
    }
  })
  return { runs, configDiff: diffConfigs(runs.map((r) => r.config)), metrics }
}

function bestValue(db: Db, runId: string, key: string, better: 'min' | 'max'): { value: number; step: number } | null {
  // Only finite values compete: a NaN or infinite loss is never "best".
  const row = db
    .prepare(`SELECT ${better}(value) AS value, step FROM metrics WHERE run_id = ? AND key = ? AND value_kind = 0`)
    .get(runId, key) as { value: number | null; step: number | null }
  return row.value === null || row.step === null ? null : { value: row.value, step: row.step }
}

interface EventRow {
  id: number
  run_id: string
  step: number | null
  kind: string
  message: string
  data: string | null
  time: number
}

interface SampleRow {
  id: number
  run_id: string
  step: number
  prompt: string
  response: string
  scores: string
  time: number
}

/**
 * Records one event outside a tracker's batches: what happens to a run rather than in its steps
 * (a cancel, a resume, a kill, a dead process found). No step, so it never replaces another.
 */
export function addEvent(db: Db, runId: string, event: { kind: string; message: string; data?: unknown; step?: number }, now = Date.now()): void {
  db.prepare('INSERT INTO events (run_id, step, kind, seq, message, data, time) VALUES (?, ?, ?, NULL, ?, ?, ?)').run(
    runId,
    event.step ?? null,
    event.kind,
    event.message,
    event.data === undefined ? null : JSON.stringify(event.data),
    now,
  )
}

export function listEvents(db: Db, runId: string, options: { kind?: string; afterId?: number; limit?: number } = {}): StoredEvent[] {
  const rows = db
    .prepare('SELECT * FROM events WHERE run_id = ? AND (? IS NULL OR kind = ?) AND id > ? ORDER BY id LIMIT ?')
    .all(runId, options.kind ?? null, options.kind ?? null, options.afterId ?? 0, options.limit ?? -1) as EventRow[]
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    step: r.step,
    kind: r.kind,
    message: r.message,
    data: r.data === null ? null : JSON.parse(r.data),
    time: r.time,
  }))
}

export function listSamples(db: Db, runId: string, options: { step?: number; limit?: number } = {}): StoredSample[] {
  const rows = db
    .prepare('SELECT * FROM samples WHERE run_id = ? AND (? IS NULL OR step = ?) ORDER BY step, id LIMIT ?')
    .all(runId, options.step ?? null, options.step ?? null, options.limit ?? -1) as SampleRow[]
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    step: r.step,
    prompt: r.prompt,
    response: r.response,
    scores: JSON.parse(r.scores),
    time: r.time,
  }))
}
