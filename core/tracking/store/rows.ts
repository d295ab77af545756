// Row shapes of the runs table and the small helpers every store domain file shares.

import type { Db } from '../db'
import type { RunRecord, RunRelative, RunStatus } from '../types'

export interface RunRow {
  id: string
  experiment_id: number
  experiment: string
  name: string
  stage: string
  status: RunStatus
  config: string
  backend: string | null
  seed: number | null
  created_at: number
  started_at: number | null
  ended_at: number | null
  error: string | null
  notes: string
  pid: number | null
  hostname: string | null
  heartbeat_at: number | null
}

export const RUN_SELECT = 'SELECT r.*, e.name AS experiment FROM runs r JOIN experiments e ON e.id = r.experiment_id'

export function runRow(db: Db, id: string): RunRow | undefined {
  return db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(id) as RunRow | undefined
}

export function rowToRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    experimentId: row.experiment_id,
    experiment: row.experiment,
    name: row.name,
    stage: row.stage,
    status: row.status,
    config: JSON.parse(row.config),
    backend: row.backend === null ? null : JSON.parse(row.backend),
    seed: row.seed,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    notes: row.notes,
    pid: row.pid,
    hostname: row.hostname,
    heartbeatAt: row.heartbeat_at,
  }
}

export function toRelative(r: { id: string; role: string; name: string | null; stage: string | null; status: RunStatus | null }): RunRelative {
  if (r.name === null) return { runId: r.id, role: r.role, exists: false }
  return { runId: r.id, role: r.role, name: r.name, stage: r.stage!, status: r.status!, exists: true }
}

export function requireText(value: string, what: string): string {
  const clean = typeof value === 'string' ? value.trim() : ''
  if (!clean) throw new Error(`${what} must be a non-empty string`)
  return clean
}

export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c)
}

export function unknownRun(id: string): Error {
  return new Error(`unknown run "${id}"`)
}

export function getRunRecord(db: Db, id: string): RunRecord {
  const row = runRow(db, id)
  if (!row) throw unknownRun(id)
  return rowToRun(row)
}
