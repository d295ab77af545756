// Writing runs: creation, the status transitions (queued -> running -> finished | failed |
// stopped | interrupted), recovery of runs whose process is gone, and names, notes, tags, params.

import type { Db } from '../db'
import { newRunId } from '../ids'
import { currentHost, ownerGoneReason, queuedOwnerGoneReason } from '../liveness'
import type { RunRecord, RunStatus } from '../types'
import { getOrCreateExperiment } from './experiments'
import { addEvent } from './metrics'
import { getRunRecord, requireText, runRow, unknownRun, type RunRow } from './rows'

export interface CreateRunInput {
  /** Experiment name; created when missing. Default 'default'. */
  experiment?: string
  name?: string
  stage: string
  config: Record<string, unknown>
  parents?: { runId: string; role: string }[]
  backend?: object
  seed?: number
  /** 'queued' (default), or 'running' when this very process is the one that runs it. */
  status?: 'queued' | 'running'
}

export interface RunOwner {
  pid: number
  hostname: string
  /** Set when the backend is only known once the run starts. */
  backend?: object
}

/** Which statuses each transition may start from. */
const START_FROM: readonly RunStatus[] = ['queued', 'stopped', 'interrupted', 'failed']
const FINISH_FROM: readonly RunStatus[] = ['queued', 'running', 'interrupted']

export function createRun(db: Db, input: CreateRunInput): RunRecord {
  const stage = requireText(input.stage, 'stage')
  const status = input.status ?? 'queued'
  if (status !== 'queued' && status !== 'running') {
    throw new Error(`createRun: status must be 'queued' or 'running', got '${status}'`)
  }
  if (input.seed !== undefined && !Number.isSafeInteger(input.seed)) throw new Error(`createRun: seed must be an integer, got ${input.seed}`)
  const parents = input.parents ?? []
  const create = db.transaction((): string => {
    for (const p of parents) {
      if (!runRow(db, p.runId)) throw new Error(`createRun: parent run "${p.runId}" (role ${p.role}) does not exist`)
    }
    const experiment = getOrCreateExperiment(db, input.experiment ?? 'default')
    const now = Date.now()
    const id = unusedRunId(db, now)
    const running = status === 'running'
    db.prepare(
      `INSERT INTO runs (id, experiment_id, name, stage, status, config, backend, seed, created_at,
         started_at, pid, hostname, heartbeat_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id,
      experiment.id,
      input.name?.trim() || `${stage}-${id.slice(-4)}`,
      stage,
      status,
      JSON.stringify(input.config ?? {}),
      input.backend === undefined ? null : JSON.stringify(input.backend),
      input.seed ?? null,
      now,
      running ? now : null,
      // A queued run is owned by this process (which starts its worker) until the worker
      // takes it over, so liveness recovery can tell when it will never start.
      process.pid,
      currentHost(),
      running ? now : null,
    )
    const link = db.prepare('INSERT OR IGNORE INTO run_parents (run_id, parent_id, role) VALUES (?, ?, ?)')
    for (const p of parents) link.run(id, p.runId, requireText(p.role, 'parent role'))
    return id
  })
  return getRunRecord(db, create.immediate())
}

/** queued (or stopped / interrupted / failed, when resuming) -> running, owned by pid on hostname. */
export function startRun(db: Db, id: string, owner: RunOwner): RunRecord {
  const now = Date.now()
  transition(db, id, 'running', START_FROM, () => {
    db.prepare(
      `UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?), ended_at = NULL, error = NULL,
         pid = ?, hostname = ?, heartbeat_at = ?, backend = coalesce(?, backend) WHERE id = ?`,
    ).run(now, owner.pid, owner.hostname, now, owner.backend === undefined ? null : JSON.stringify(owner.backend), id)
  })
  return getRunRecord(db, id)
}

/**
 * running -> finished | failed | stopped. Also accepted from 'queued' (cancelled or failed before
 * it started) and from 'interrupted' (an owner that was presumed dead reports its real end).
 */
export function finishRun(db: Db, id: string, status: 'finished' | 'failed' | 'stopped', error?: string): RunRecord {
  if (!['finished', 'failed', 'stopped'].includes(status)) {
    throw new Error(`finishRun: status must be finished, failed or stopped, got '${status}'`)
  }
  transition(db, id, status, FINISH_FROM, () => {
    db.prepare('UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?').run(status, Date.now(), error ?? null, id)
  })
  return getRunRecord(db, id)
}

/** running -> interrupted: the owner process died without reporting an end. */
export function markInterrupted(db: Db, id: string, reason = 'the run process ended without reporting a status'): RunRecord {
  transition(db, id, 'interrupted', ['running'], () => {
    // The end time is the last sign of life, which is closer to the truth than "now".
    db.prepare("UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at, ?), error = ? WHERE id = ?").run(
      Date.now(),
      reason,
      id,
    )
    addEvent(db, id, { kind: 'interrupted', message: reason })
  })
  return getRunRecord(db, id)
}

/**
 * Marks every 'running' run whose owner is gone, and every 'queued' run whose queuing process
 * is gone (it would never start), as 'interrupted' (resumable). Returns their ids.
 */
export function recoverInterrupted(db: Db, staleAfterMs: number): string[] {
  const rows = db.prepare("SELECT * FROM runs WHERE status IN ('running', 'queued')").all() as RunRow[]
  const marked: string[] = []
  for (const row of rows) {
    const reason =
      row.status === 'running'
        ? ownerGoneReason({ pid: row.pid, hostname: row.hostname, heartbeatAt: row.heartbeat_at, startedAt: row.started_at }, staleAfterMs)
        : queuedOwnerGoneReason({ pid: row.pid, hostname: row.hostname, createdAt: row.created_at }, staleAfterMs)
    if (reason === null) continue
    // The guard on status makes this safe against the owner finishing (or starting) at the same moment.
    const mark = db.transaction((): boolean => {
      const changed = db
        .prepare(
          "UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at, ?), error = ? WHERE id = ? AND status = ?",
        )
        .run(Date.now(), `interrupted: ${reason}`, row.id, row.status).changes
      // The run page's event log says what happened, whoever found it out.
      if (changed === 1) addEvent(db, row.id, { kind: 'interrupted', message: `marked interrupted: ${reason}` })
      return changed === 1
    })
    if (mark.immediate()) marked.push(row.id)
  }
  return marked
}

function transition(db: Db, id: string, to: RunStatus, from: readonly RunStatus[], update: () => void): void {
  const apply = db.transaction(() => {
    const row = runRow(db, id)
    if (!row) throw unknownRun(id)
    if (!from.includes(row.status)) {
      throw new Error(`run ${id} is ${row.status}; it cannot become ${to} (only from: ${from.join(', ')})`)
    }
    update()
  })
  apply.immediate()
}

export function setRunName(db: Db, id: string, name: string): void {
  updateRun(db, id, 'UPDATE runs SET name = ? WHERE id = ?', requireText(name, 'run name'))
}

export function setNotes(db: Db, id: string, notes: string): void {
  updateRun(db, id, 'UPDATE runs SET notes = ? WHERE id = ?', notes)
}

export function setTag(db: Db, id: string, key: string, value = ''): void {
  getRunRecord(db, id)
  db.prepare('INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)').run(id, requireText(key, 'tag key'), value)
}

export function removeTag(db: Db, id: string, key: string): boolean {
  return db.prepare('DELETE FROM tags WHERE run_id = ? AND key = ?').run(id, key).changes === 1
}

export function logParams(db: Db, runId: string, params: Record<string, string | number | boolean>): void {
  const put = db.prepare('INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)')
  db.transaction(() => {
    for (const [key, value] of Object.entries(params)) put.run(runId, key, JSON.stringify(value))
  })()
}

function updateRun(db: Db, id: string, sql: string, value: unknown): void {
  if (db.prepare(sql).run(value, id).changes !== 1) throw unknownRun(id)
}

function unusedRunId(db: Db, now: number): string {
  for (let attempt = 0; attempt < 10; attempt++) {
    const id = newRunId(now)
    if (!runRow(db, id)) return id
  }
  throw new Error('could not find an unused run id after 10 attempts')
}
