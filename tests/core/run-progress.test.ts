// Progress as a store fact (migration 6, store/progress.ts), the worker's throttled progress
// reporter, events about a run (cancel, resume, a dead process found) and the system metrics
// sampler. The end-to-end path through real workers is in jobs-progress.test.ts.
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { MIGRATIONS, SCHEMA_VERSION } from '../../core/tracking/migrations'
import { Store } from '../../core/tracking/store'
import { dbPath } from '../../core/tracking/home'
import { ProgressReporter } from '../../core/jobs/progressReporter'
import { SystemSampler, SYSTEM_METRICS } from '../../core/jobs/systemMetrics'
import { initBackend } from '../../core/backend'
import type { Progress } from '../../core/train/stages/types'
import { progressNow } from '../../core/tracking/store/progress'

let home: string

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-progress-'))
})
afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true })
})

/** A database as workbench wrote it at schema version 5, with one run and its metrics. */
function writeVersion5Database(): void {
  fs.mkdirSync(path.join(home, 'runs'), { recursive: true })
  const db = new Database(dbPath(home))
  for (const m of MIGRATIONS.filter((m) => m.version <= 5)) db.exec(m.sql)
  db.pragma('user_version = 5')
  db.prepare(
    "INSERT INTO runs (id, experiment_id, name, stage, status, config, created_at, started_at, ended_at) VALUES ('old-run', 1, 'old', 'pretrain', 'finished', '{\"dim\":32}', 1000, 1000, 2000)",
  ).run()
  db.prepare("INSERT INTO metrics (run_id, key, step, value, wall_time) VALUES ('old-run', 'train/loss', 3, 2.5, 1500)").run()
  db.prepare("INSERT INTO latest_metrics (run_id, key, step, value, wall_time) VALUES ('old-run', 'train/loss', 3, 2.5, 1500)").run()
  db.prepare("INSERT INTO events (run_id, kind, message, time) VALUES ('old-run', 'warning', 'an old warning', 1600)").run()
  db.close()
}

describe('migration 6: run progress', () => {
  it('brings a version 5 database to version 6 (and on) and keeps its rows', () => {
    writeVersion5Database()
    const store = Store.open(home)
    try {
      expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(6)
      expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
      const run = store.getRun('old-run')
      expect(run.config).toEqual({ dim: 32 })
      expect(run.metrics['train/loss']).toBe(2.5)
      expect(run.progress).toBeUndefined()
      expect(store.listEvents('old-run').map((e) => e.message)).toEqual(['an old warning'])
      // The new table works on the migrated file.
      store.recordProgress('old-run', { step: 3, totalSteps: 3 })
      expect(store.getProgress('old-run')).toMatchObject({ step: 3, totalSteps: 3 })
    } finally {
      store.close()
    }
  })
})

describe('progress in the store', () => {
  it('is read back by getRun and listRuns, replaced by each write, and deleted with its run', () => {
    const store = Store.open(home)
    try {
      const run = store.createRun({ stage: 'pretrain', config: {} })
      const other = store.createRun({ stage: 'pretrain', config: {} })
      store.recordProgress(run.id, { step: 4, totalSteps: 10, loss: 3.25, tokensPerSec: 900, etaSeconds: 12, message: 'training' })
      store.recordProgress(run.id, { step: 5, totalSteps: 10, loss: NaN, etaSeconds: 10 })
      const p = store.getRun(run.id).progress!
      // NaN has no place in SQLite: left out, like any field not reported.
      expect(p).toMatchObject({ step: 5, totalSteps: 10, etaSeconds: 10 })
      expect(p).not.toHaveProperty('loss')
      expect(p).not.toHaveProperty('message')
      expect(p.updatedAt).toBeGreaterThan(0)
      const listed = new Map(store.listRuns().map((r) => [r.id, r.progress]))
      expect(listed.get(run.id)?.step).toBe(5)
      expect(listed.get(other.id)).toBeUndefined()
      expect(() => store.recordProgress(run.id, { step: 1.5, totalSteps: 10 })).toThrow(/integers/)
      store.deleteRun(run.id)
      expect(store.db.prepare('SELECT count(*) FROM run_progress').pluck().get()).toBe(0)
    } finally {
      store.close()
    }
  })

  it('counts the ETA of a running run down from when it was recorded; a stopped run keeps its figure', () => {
    const recorded = { step: 5, totalSteps: 10, etaSeconds: 30, updatedAt: 100_000 }
    expect(progressNow(recorded, 'running', 110_000)).toEqual({ step: 5, totalSteps: 10, etaSeconds: 20 })
    expect(progressNow(recorded, 'running', 200_000)?.etaSeconds).toBe(0)
    expect(progressNow(recorded, 'stopped', 200_000)?.etaSeconds).toBe(30)
    expect(progressNow(undefined, 'running')).toBeUndefined()
  })
})

describe('events about a run', () => {
  it('records a dead process found by any store open as an interrupted event', () => {
    const store = Store.open(home)
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.startRun(run.id, { pid: 2 ** 22 + 12345, hostname: os.hostname() }) // no such process
    store.close()
    const again = Store.open(home)
    try {
      expect(again.getRunRecord(run.id).status).toBe('interrupted')
      const events = again.listEvents(run.id)
      expect(events.map((e) => e.kind)).toEqual(['interrupted'])
      expect(events[0].message).toMatch(/process \d+ on .* is gone/)
    } finally {
      again.close()
    }
  })
})

describe('ProgressReporter', () => {
  function reporter() {
    let now = 0
    const emitted: Progress[] = []
    const recorded: Progress[] = []
    const warnings: string[] = []
    let failing = false
    const r = new ProgressReporter({
      emit: (p) => emitted.push(p),
      record: (p) => {
        if (failing) throw new Error('database is locked')
        recorded.push(p)
      },
      warn: (m) => warnings.push(m),
      now: () => now,
    })
    return {
      r,
      emitted,
      recorded,
      warnings,
      at: (ms: number) => (now = ms),
      fail: () => (failing = true),
    }
  }

  it('writes the store at most once a second, always the last step, and the rest on flush', () => {
    const t = reporter()
    for (let step = 1; step <= 9; step++) {
      t.at(step * 100) // a step every 100 ms
      t.r.report({ step, totalSteps: 20 })
    }
    // Recorded at 100 ms (the first) and 1100 ms would be next: only the first so far.
    expect(t.recorded.map((p) => p.step)).toEqual([1])
    // Events go out four times a second: at 100, 400 (>= 250 after 100), 700 ms.
    expect(t.emitted.map((p) => p.step)).toEqual([1, 4, 7])
    t.at(1100)
    t.r.report({ step: 10, totalSteps: 20 })
    expect(t.recorded.map((p) => p.step)).toEqual([1, 10])
    t.at(1150)
    t.r.report({ step: 11, totalSteps: 20 })
    // A run stopped here: flush writes where it got to.
    t.r.flush()
    expect(t.recorded.map((p) => p.step)).toEqual([1, 10, 11])
    t.r.flush() // nothing new: nothing written
    expect(t.recorded).toHaveLength(3)
    t.at(1160)
    t.r.report({ step: 20, totalSteps: 20 })
    expect(t.recorded.at(-1)?.step).toBe(20)
    expect(t.emitted.at(-1)?.step).toBe(20)
    expect(t.r.step).toBe(20)
    // A stage that keeps reporting its last step (evaluating after training) is throttled again.
    const written = t.recorded.length
    t.at(1170)
    t.r.report({ step: 20, totalSteps: 20, message: 'evaluating' })
    expect(t.recorded).toHaveLength(written)
    t.at(2200)
    t.r.report({ step: 20, totalSteps: 20, message: 'saving' })
    expect(t.recorded.at(-1)?.message).toBe('saving')
  })

  it('throttles a stage that does not know its total (0 steps)', () => {
    const t = reporter()
    for (let i = 0; i < 5; i++) {
      t.at(i * 10)
      t.r.report({ step: 0, totalSteps: 0, message: `item ${i}` })
    }
    expect(t.recorded).toHaveLength(1)
    expect(t.emitted).toHaveLength(1)
  })

  it('goes on when the store refuses a write, and says so once', () => {
    const t = reporter()
    t.fail()
    for (let step = 1; step <= 3; step++) {
      t.at(step * 2000)
      t.r.report({ step, totalSteps: 3 })
    }
    expect(t.emitted).toHaveLength(3)
    expect(t.warnings).toEqual(['could not record progress in the store: database is locked'])
  })
})

describe('system metrics sampler', () => {
  it('samples CPU use, resident memory and the backend memory in MB', async () => {
    const backend = await initBackend('wasm')
    expect(backend.name).toBe('wasm')
    const sampler = new SystemSampler()
    // Some CPU work between samples, so the second sample has CPU time to measure.
    let x = 0
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i)
    expect(x).toBeGreaterThan(0)
    sampler.sample()
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i)
    const values = sampler.sample()
    expect(values[SYSTEM_METRICS.cpu]).toBeGreaterThan(0)
    // A Node process with tfjs loaded holds tens of MB at least, and far less than a TB.
    expect(values[SYSTEM_METRICS.rss]).toBeGreaterThan(10)
    expect(values[SYSTEM_METRICS.rss]).toBeLessThan(1024 * 1024)
    expect(values[SYSTEM_METRICS.backend]).toBeGreaterThanOrEqual(0)
    expect(values[SYSTEM_METRICS.wasmHeap]).toBeGreaterThan(1)
  })
})
