// RLHF sequences started from the app (electron/server/services/rlhf.ts over core/rl/sequence.ts),
// kept in the store so the RLHF screen still lists them after a restart. A sequence is driven by
// the process that started it (it submits each round when the last one finished), so it is only
// 'running' while that process lives: one whose driver is gone reads as 'interrupted', with its
// rounds (ordinary runs, linked in rlhf_rounds) as they were left.

import type { RlhfRound } from '../rl/sequence'
import { currentHost, isProcessAlive } from './liveness'
import type { Store } from './store'

export const RLHF_SEQUENCE_STATUSES = ['running', 'finished', 'failed', 'cancelled', 'interrupted'] as const
export type RlhfSequenceStatus = (typeof RLHF_SEQUENCE_STATUSES)[number]

export interface RlhfSequenceRecord {
  id: string
  status: RlhfSequenceStatus
  method: string
  /** Rounds planned. */
  rounds: number
  policy: string
  safetyPromptShare?: number
  startedAt: number
  endedAt?: number
  error?: string
  /** The rounds started so far, in order. */
  started: RlhfRound[]
}

interface SequenceRow {
  id: string
  method: string
  rounds: number
  policy: string
  safety_prompt_share: number | null
  status: RlhfSequenceStatus
  error: string | null
  pid: number | null
  hostname: string | null
  started_at: number
  ended_at: number | null
}

/** Records a sequence this process starts (and drives). */
export function recordSequenceStart(store: Store, s: { id: string; method: string; rounds: number; policy: string; safetyPromptShare?: number; startedAt: number }): void {
  store.db
    .prepare(
      `INSERT INTO rlhf_sequences (id, method, rounds, policy, safety_prompt_share, status, pid, hostname, started_at)
       VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?)`,
    )
    .run(s.id, s.method, s.rounds, s.policy, s.safetyPromptShare ?? null, process.pid, currentHost(), s.startedAt)
}

/** Links a round's run to its sequence as the round starts. */
export function recordSequenceRound(store: Store, sequenceId: string, round: RlhfRound): void {
  store.db
    .prepare('INSERT INTO rlhf_rounds (sequence_id, round, version, stage, run_id, policy) VALUES (?, ?, ?, ?, ?, ?)')
    .run(sequenceId, round.round, round.version, round.stage, round.runId, round.policy)
}

/** How a running sequence ended; one that already ended (or was found interrupted) keeps its end. */
export function recordSequenceEnd(store: Store, id: string, status: 'finished' | 'failed' | 'cancelled', error?: string): void {
  store.db
    .prepare("UPDATE rlhf_sequences SET status = ?, error = ?, ended_at = ? WHERE id = ? AND status = 'running'")
    .run(status, error ?? null, Date.now(), id)
}

/**
 * Marks 'running' sequences whose driving process is gone as 'interrupted'; returns their ids.
 * `drivenHere` are the ids this process drives: any other sequence recorded under this process's
 * own pid was left by an earlier process that had the same pid. A driver on another machine
 * cannot be checked and is left alone.
 */
export function interruptOrphanedSequences(store: Store, drivenHere: ReadonlySet<string>): string[] {
  const rows = store.db.prepare("SELECT * FROM rlhf_sequences WHERE status = 'running'").all() as SequenceRow[]
  const orphaned = rows.filter((r) => {
    if (r.hostname !== currentHost() || r.pid === null) return false
    return r.pid === process.pid ? !drivenHere.has(r.id) : !isProcessAlive(r.pid)
  })
  const mark = store.db.prepare(
    "UPDATE rlhf_sequences SET status = 'interrupted', ended_at = ?, error = ? WHERE id = ? AND status = 'running'",
  )
  for (const r of orphaned) {
    mark.run(Date.now(), `interrupted: the app that drove it (process ${r.pid}) stopped before its last round ended; its rounds are runs in the runs list`, r.id)
  }
  return orphaned.map((r) => r.id)
}

export function getSequence(store: Store, id: string): RlhfSequenceRecord | null {
  const row = store.db.prepare('SELECT * FROM rlhf_sequences WHERE id = ?').get(id) as SequenceRow | undefined
  return row ? toRecord(store, row) : null
}

/** Every recorded sequence, newest first. */
export function listSequences(store: Store): RlhfSequenceRecord[] {
  const rows = store.db.prepare('SELECT * FROM rlhf_sequences ORDER BY started_at DESC, id DESC').all() as SequenceRow[]
  return rows.map((r) => toRecord(store, r))
}

function toRecord(store: Store, row: SequenceRow): RlhfSequenceRecord {
  const started = store.db
    .prepare('SELECT round, version, stage, run_id AS runId, policy FROM rlhf_rounds WHERE sequence_id = ? ORDER BY round')
    .all(row.id) as RlhfRound[]
  return {
    id: row.id,
    status: row.status,
    method: row.method,
    rounds: row.rounds,
    policy: row.policy,
    ...(row.safety_prompt_share !== null ? { safetyPromptShare: row.safety_prompt_share } : {}),
    startedAt: row.started_at,
    ...(row.ended_at !== null ? { endedAt: row.ended_at } : {}),
    ...(row.error !== null ? { error: row.error } : {}),
    started,
  }
}
