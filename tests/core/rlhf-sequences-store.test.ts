// RLHF sequences in the store (migration 7): recorded with their rounds, listed newest first, and
// never left 'running' once the process that drove them is gone.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Store } from '../../core/tracking/store'
import { getSequence, interruptOrphanedSequences, listSequences, recordSequenceEnd, recordSequenceRound, recordSequenceStart } from '../../core/tracking/rlhfSequences'

function freshStore(): Store {
  return Store.open(fs.mkdtempSync(path.join(os.tmpdir(), 'wb-rlhf-seq-')))
}

const plan = (id: string, startedAt: number) => ({ id, method: 'rs', rounds: 2, policy: 'sft-run', startedAt })

describe('RLHF sequences in the store', () => {
  it('records a sequence, its rounds and its end; lists newest first', () => {
    const store = freshStore()
    try {
      const v1 = store.createRun({ stage: 'rejection_sampling', name: 'RLHF-V1', config: {} })
      recordSequenceStart(store, plan('rlhf-a', 1000))
      recordSequenceRound(store, 'rlhf-a', { round: 1, version: 'RLHF-V1', stage: 'rejection_sampling', runId: v1.id, policy: 'sft-run' })
      recordSequenceEnd(store, 'rlhf-a', 'failed', 'round V1 failed')
      recordSequenceStart(store, { ...plan('rlhf-b', 2000), safetyPromptShare: 0.25 })
      expect(listSequences(store).map((s) => [s.id, s.status])).toEqual([['rlhf-b', 'running'], ['rlhf-a', 'failed']])
      expect(getSequence(store, 'rlhf-a')).toEqual({
        id: 'rlhf-a', status: 'failed', method: 'rs', rounds: 2, policy: 'sft-run', startedAt: 1000, endedAt: expect.any(Number), error: 'round V1 failed',
        started: [{ round: 1, version: 'RLHF-V1', stage: 'rejection_sampling', runId: v1.id, policy: 'sft-run' }],
      })
      expect(getSequence(store, 'rlhf-b')?.safetyPromptShare).toBe(0.25)
      expect(getSequence(store, 'rlhf-none')).toBeNull()
      // Deleting a round's run drops its round, not the sequence.
      store.deleteRun(v1.id)
      expect(getSequence(store, 'rlhf-a')?.started).toEqual([])
    } finally {
      store.close()
    }
  })

  it('interrupts a running sequence whose driver is gone, or that this very pid recorded but does not drive; leaves live and remote drivers alone', () => {
    const store = freshStore()
    try {
      for (const id of ['rlhf-dead', 'rlhf-mine', 'rlhf-stale', 'rlhf-live', 'rlhf-remote']) recordSequenceStart(store, plan(id, 1000))
      const setDriver = (id: string, pid: number, hostname = os.hostname()) => store.db.prepare('UPDATE rlhf_sequences SET pid = ?, hostname = ? WHERE id = ?').run(pid, hostname, id)
      setDriver('rlhf-dead', 2 ** 22 + 12345) // above Linux's pid_max: no such process
      setDriver('rlhf-live', process.ppid)
      setDriver('rlhf-remote', 2 ** 22 + 12345, 'another-machine')
      // rlhf-mine and rlhf-stale carry this process's pid; only rlhf-mine is driven here.
      const marked = interruptOrphanedSequences(store, new Set(['rlhf-mine']))
      expect(marked.sort()).toEqual(['rlhf-dead', 'rlhf-stale'])
      const status = Object.fromEntries(listSequences(store).map((s) => [s.id, s.status]))
      expect(status).toEqual({ 'rlhf-dead': 'interrupted', 'rlhf-mine': 'running', 'rlhf-stale': 'interrupted', 'rlhf-live': 'running', 'rlhf-remote': 'running' })
      expect(getSequence(store, 'rlhf-dead')?.error).toMatch(/stopped before its last round ended/)
      // An end reported after the fact does not turn an interrupted sequence back.
      recordSequenceEnd(store, 'rlhf-stale', 'finished')
      expect(getSequence(store, 'rlhf-stale')?.status).toBe('interrupted')
    } finally {
      store.close()
    }
  })
})
