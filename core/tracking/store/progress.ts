// A run's progress (step of total, loss, tokens/s, ETA, what it is doing) as a store fact: the
// process that runs it writes one row, every viewer (the app, web mode, `workbench runs show`)
// reads the same row, whoever launched the run.

import type { Db } from '../db'
import type { RunProgress, RunStatus } from '../types'

interface ProgressRow {
  run_id: string
  step: number
  total_steps: number
  loss: number | null
  tokens_per_sec: number | null
  eta_seconds: number | null
  message: string | null
  updated_at: number
}

/** Replaces the run's progress row. Non-finite numbers are left out (SQLite has no NaN). */
export function recordProgress(db: Db, runId: string, p: Omit<RunProgress, 'updatedAt'>, now = Date.now()): void {
  if (!Number.isInteger(p.step) || !Number.isInteger(p.totalSteps)) {
    throw new Error(`recordProgress: step and totalSteps must be integers, got ${p.step} / ${p.totalSteps}`)
  }
  db.prepare(
    `INSERT OR REPLACE INTO run_progress (run_id, step, total_steps, loss, tokens_per_sec, eta_seconds, message, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(runId, p.step, p.totalSteps, finite(p.loss), finite(p.tokensPerSec), finite(p.etaSeconds), p.message ?? null, now)
}

/** The progress of each of these runs that has any, by run id. */
export function progressOf(db: Db, runIds: string[]): Map<string, RunProgress> {
  const rows = db
    .prepare('SELECT * FROM run_progress WHERE run_id IN (SELECT value FROM json_each(?))')
    .all(JSON.stringify(runIds)) as ProgressRow[]
  return new Map(rows.map((r) => [r.run_id, rowToProgress(r)]))
}

/**
 * The progress as a viewer shows it now: without its record time, and for a running run the ETA
 * counted down by the time since it was recorded (a stopped run keeps what it had left).
 */
export function progressNow(p: RunProgress | undefined, status: RunStatus, now = Date.now()): Omit<RunProgress, 'updatedAt'> | undefined {
  if (!p) return undefined
  const { updatedAt, ...shown } = p
  if (status === 'running' && shown.etaSeconds !== undefined) shown.etaSeconds = Math.max(0, shown.etaSeconds - Math.max(0, now - updatedAt) / 1000)
  return shown
}

function rowToProgress(r: ProgressRow): RunProgress {
  const p: RunProgress = { step: r.step, totalSteps: r.total_steps, updatedAt: r.updated_at }
  if (r.loss !== null) p.loss = r.loss
  if (r.tokens_per_sec !== null) p.tokensPerSec = r.tokens_per_sec
  if (r.eta_seconds !== null) p.etaSeconds = r.eta_seconds
  if (r.message !== null) p.message = r.message
  return p
}

function finite(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null
}
