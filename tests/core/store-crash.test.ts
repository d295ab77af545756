// Crash safety with real processes: a writer killed with SIGKILL mid-write, and a reader
// process reading while a writer writes.

import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from '../../core/tracking/store'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const WRITER = fileURLToPath(new URL('../fixtures/tracking/writer.ts', import.meta.url))
const READER = fileURLToPath(new URL('../fixtures/tracking/reader.ts', import.meta.url))
const BATCH = 500

let home: string
const children: ChildProcess[] = []

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-crash-'))
})
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  fs.rmSync(home, { recursive: true, force: true })
})

function startTs(script: string, args: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  return child
}

/** Calls onLine for each stdout line; resolves with the exit code/signal. */
function watch(child: ChildProcess, onLine: (line: string) => void): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  let buffered = ''
  let stderr = ''
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    lines.forEach(onLine)
  })
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })))
}

function createRun(): string {
  const store = Store.open(home)
  const id = store.createRun({ stage: 'pretrain', config: { dim: 32 } }).id
  store.close()
  return id
}

describe('crash safety', () => {
  it('a writer killed with SIGKILL mid-write leaves an intact database, all committed metrics, and an interrupted run', async () => {
    const runId = createRun()
    const writer = startTs(WRITER, [home, runId, String(BATCH)])
    let lastReported = 0
    const exited = watch(writer, (line) => {
      const m = line.match(/^committed (\d+)$/)
      if (!m) return
      lastReported = Number(m[1])
      // Kill at once after a commit was reported: the writer is inside its next batch by then.
      if (lastReported >= 40 * BATCH) writer.kill('SIGKILL')
    })
    const { signal, stderr } = await exited
    expect(stderr).toBe('')
    expect(signal).toBe('SIGKILL')

    const store = Store.open(home)
    try {
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok')
      const run = store.getRunRecord(runId)
      expect(run.status).toBe('interrupted')
      expect(run.error).toMatch(/process \d+ on .* is gone/)
      expect(run.endedAt).not.toBeNull()
      const stored = store.db.prepare('SELECT count(*) FROM metrics WHERE run_id = ?').pluck().get(runId) as number
      expect(stored).toBeGreaterThanOrEqual(lastReported)
      // Batches are atomic: only whole batches, each of whole steps with both keys.
      expect(stored % BATCH).toBe(0)
      const steps = store.db.prepare("SELECT count(*) AS n, max(step) AS last FROM metrics WHERE run_id = ? AND key = 'train/loss'").get(runId) as {
        n: number
        last: number
      }
      expect(steps.last).toBe(steps.n - 1)
      expect(store.getRun(runId).metrics['train/tokens_seen']).toBe(steps.last * 64)
      expect(store.listRuns({ status: 'running' })).toEqual([])
    } finally {
      store.close()
    }
  })

  it('a writer killed inside an uncommitted transaction that spilled into the WAL loses only that transaction', async () => {
    const runId = createRun()
    const writer = startTs(WRITER, [home, runId, String(BATCH), '0', String(10 * BATCH)])
    let committedBefore = -1
    let walBytes = 0
    const exited = watch(writer, (line) => {
      const m = line.match(/^holding (\d+)$/)
      if (!m) return
      committedBefore = Number(m[1])
      const wal = path.join(home, 'workbench.db-wal')
      walBytes = fs.existsSync(wal) ? fs.statSync(wal).size : 0
      writer.kill('SIGKILL')
    })
    const { signal, stderr } = await exited
    expect(stderr).toBe('')
    expect(signal).toBe('SIGKILL')
    expect(committedBefore).toBeGreaterThanOrEqual(10 * BATCH)
    expect(walBytes).toBeGreaterThan(4_000_000) // the uncommitted pages really reached the file

    const store = Store.open(home)
    try {
      expect(store.db.pragma('integrity_check', { simple: true })).toBe('ok')
      expect(store.db.prepare('SELECT count(*) FROM metrics WHERE run_id = ?').pluck().get(runId)).toBe(committedBefore)
      expect(store.getRunRecord(runId).status).toBe('interrupted')
    } finally {
      store.close()
    }
  })

  it('a reader process reads while a writer process writes, without errors, seeing counts grow', async () => {
    const runId = createRun()
    const writer = startTs(WRITER, [home, runId, '20', '1'])
    let startedReader: Promise<string> | null = null
    let sawCommit!: () => void
    const committed = new Promise<void>((resolve) => (sawCommit = resolve))
    const writerDone = watch(writer, (line) => {
      if (line.startsWith('committed')) sawCommit()
    })
    await committed
    startedReader = new Promise((resolve) => {
      const reader = startTs(READER, [home, runId, '60'])
      let out = ''
      void watch(reader, (line) => (out += line)).then(() => resolve(out))
    })
    const result = JSON.parse(await startedReader) as { counts: number[]; statuses: string[]; error: string | null }
    writer.kill('SIGKILL')
    await writerDone
    expect(result.error).toBeNull()
    expect(result.counts).toHaveLength(60)
    expect(result.statuses.every((s) => s === 'running')).toBe(true)
    for (let i = 1; i < result.counts.length; i++) expect(result.counts[i]).toBeGreaterThanOrEqual(result.counts[i - 1])
    expect(result.counts[result.counts.length - 1]).toBeGreaterThan(result.counts[0])
  })
})
