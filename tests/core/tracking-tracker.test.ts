import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from '../../core/tracking/store'
import { MemoryTracker, SqliteTracker } from '../../core/tracking/tracker'
import { fingerprint } from '../../core/tracking/hash'
import { runDir } from '../../core/tracking/home'

let home: string
let store: Store

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-tracker-'))
  store = Store.open(home)
})
afterEach(() => {
  store.close()
  fs.rmSync(home, { recursive: true, force: true })
})

const countMetrics = (runId: string) => store.db.prepare('SELECT count(*) FROM metrics WHERE run_id = ?').pluck().get(runId) as number

describe('SqliteTracker', () => {
  it('buffers metrics and commits them in batches of batchSize', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    const tracker = new SqliteTracker(store, run.id, { batchSize: 10, flushIntervalMs: 60_000 })
    for (let step = 0; step < 4; step++) tracker.logMetrics(step, { a: step, b: step })
    expect(countMetrics(run.id)).toBe(0) // 8 points buffered, below the batch size
    tracker.logMetrics(4, { a: 4, b: 4 })
    expect(countMetrics(run.id)).toBe(10)
    expect(tracker.commits).toBe(1)
    tracker.logMetrics(5, { a: 5 })
    tracker.flush()
    expect(countMetrics(run.id)).toBe(11)
    expect(tracker.committedPoints).toBe(11)
    tracker.close()
  })

  it('commits on the time interval too, and heartbeats while running', async () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.startRun(run.id, { pid: process.pid, hostname: os.hostname() })
    store.db.prepare('UPDATE runs SET heartbeat_at = 0 WHERE id = ?').run(run.id)
    const tracker = new SqliteTracker(store, run.id, { batchSize: 1000, flushIntervalMs: 30 })
    tracker.logMetrics(0, { a: 1 })
    await new Promise((resolve) => setTimeout(resolve, 120)) // the background timer commits it
    expect(countMetrics(run.id)).toBe(1)
    expect(store.getRunRecord(run.id).heartbeatAt).toBeGreaterThan(Date.now() - 5000)
    tracker.close()
  })

  it('records the events and samples of a step replayed after a crash once, as it does metrics', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    // The first process logs steps 5 and 6, then dies; the resumed one replays step 6 from a checkpoint at 5.
    const first = new SqliteTracker(store, run.id)
    const logStep = (tracker: SqliteTracker, step: number, loss: number) => {
      tracker.logMetrics(step, { 'train/loss': loss })
      tracker.logEvent('skip', `step ${step} skipped: spike (loss ${loss})`, { loss }, step)
      tracker.logEvent('skip', `batch ${step * 2} skipped: empty mask`, undefined, step)
      tracker.logSample({ step, prompt: 'the cat', response: `sat ${loss}` })
      tracker.logSample({ step, prompt: 'a bird', response: `sang ${loss}` })
    }
    logStep(first, 5, 1)
    logStep(first, 6, 2)
    first.logEvent('warning', 'no step: kept every time')
    first.close()
    const second = new SqliteTracker(store, run.id)
    logStep(second, 6, 3)
    second.logEvent('warning', 'no step: kept every time')
    second.close()
    const events = store.listEvents(run.id)
    expect(events.filter((e) => e.step === 5)).toHaveLength(2)
    expect(events.filter((e) => e.step === 6).map((e) => e.message)).toEqual(['step 6 skipped: spike (loss 3)', 'batch 12 skipped: empty mask'])
    expect(events.filter((e) => e.kind === 'warning')).toHaveLength(2)
    const samples = store.listSamples(run.id)
    expect(samples.map((s) => [s.step, s.response])).toEqual([
      [5, 'sat 1'],
      [5, 'sang 1'],
      [6, 'sat 3'],
      [6, 'sang 3'],
    ])
  })

  it('rejects bad steps and values with clear messages', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    const tracker = new SqliteTracker(store, run.id)
    expect(() => tracker.logMetrics(-1, { a: 1 })).toThrow(/step must be an integer >= 0, got -1/)
    expect(() => tracker.logMetrics(1.5, { a: 1 })).toThrow(/step must be an integer/)
    expect(() => tracker.logMetrics(1, { a: '1' as unknown as number })).toThrow(/a must be a number/)
    expect(() => new SqliteTracker(store, 'missing')).toThrow(/unknown run "missing"/)
    tracker.close()
  })

  it('records artifacts with size and sha256 (folders over their sorted files) and removes them', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    const dir = runDir(home, run.id)
    const ckpt = path.join(dir, 'step-10')
    fs.mkdirSync(path.join(ckpt, 'sub'), { recursive: true })
    fs.writeFileSync(path.join(ckpt, 'config.json'), '{"dim":32}')
    fs.writeFileSync(path.join(ckpt, 'sub', 'b.bin'), Buffer.from([1, 2, 3]))
    const tracker = new SqliteTracker(store, run.id)
    tracker.logArtifact({ kind: 'checkpoint', path: ckpt, step: 10, meta: { best: true } })
    const [art] = store.listArtifacts(run.id)
    expect(art).toMatchObject({ kind: 'checkpoint', path: `runs/${run.id}/step-10`, bytes: 13, step: 10, meta: { best: true } })
    const expected = crypto.createHash('sha256')
    expected.update('config.json\u000010\u0000').update('{"dim":32}')
    expected.update('sub/b.bin\u00003\u0000').update(Buffer.from([1, 2, 3]))
    expect(art.sha256).toBe(expected.digest('hex'))
    // Same content -> same digest; a changed byte -> a different one.
    expect(fingerprint(ckpt).sha256).toBe(art.sha256)
    fs.writeFileSync(path.join(ckpt, 'sub', 'b.bin'), Buffer.from([1, 2, 4]))
    expect(fingerprint(ckpt).sha256).not.toBe(art.sha256)
    // A single file hashes to the plain sha256 of its bytes.
    const file = path.join(dir, 'report.md')
    fs.writeFileSync(file, 'hello')
    tracker.logArtifact({ kind: 'report', path: file })
    expect(store.listArtifacts(run.id, { kind: 'report' })[0].sha256).toBe(crypto.createHash('sha256').update('hello').digest('hex'))
    expect(() => tracker.logArtifact({ kind: 'report', path: path.join(dir, 'missing') })).toThrow(/does not exist/)

    tracker.removeArtifact(ckpt)
    expect(fs.existsSync(ckpt)).toBe(false)
    expect(store.listArtifacts(run.id).map((a) => a.kind)).toEqual(['report'])
    tracker.close()
  })
})

describe('recovery of runs whose process is gone', () => {
  it('marks a running run interrupted when its pid is dead, or its heartbeat is stale on another host', () => {
    const dead = store.createRun({ stage: 'pretrain', config: {} })
    const alive = store.createRun({ stage: 'pretrain', config: {} })
    const remote = store.createRun({ stage: 'pretrain', config: {} })
    const remoteFresh = store.createRun({ stage: 'pretrain', config: {} })
    store.startRun(dead.id, { pid: 2 ** 22 + 12345, hostname: os.hostname() }) // above Linux's pid_max
    store.startRun(alive.id, { pid: process.pid, hostname: os.hostname() })
    store.startRun(remote.id, { pid: 1, hostname: 'other-machine' })
    store.startRun(remoteFresh.id, { pid: 1, hostname: 'other-machine' })
    store.db.prepare('UPDATE runs SET heartbeat_at = ? WHERE id = ?').run(Date.now() - 60_000, remote.id)
    store.close()

    store = Store.open(home, { staleAfterMs: 30_000 })
    expect(store.getRunRecord(dead.id).status).toBe('interrupted')
    expect(store.getRunRecord(dead.id).error).toMatch(/is gone/)
    expect(store.getRunRecord(alive.id).status).toBe('running')
    expect(store.getRunRecord(remote.id).status).toBe('interrupted')
    expect(store.getRunRecord(remote.id).error).toMatch(/no heartbeat for 1 min/)
    expect(store.getRunRecord(remoteFresh.id).status).toBe('running')
    // An interrupted run may be resumed, and its owner may still report its real end.
    expect(store.startRun(dead.id, { pid: process.pid, hostname: os.hostname() }).status).toBe('running')
    expect(store.markInterrupted(dead.id).status).toBe('interrupted')
    expect(store.finishRun(dead.id, 'stopped').status).toBe('stopped')
  })
})

describe('MemoryTracker', () => {
  it('keeps metrics, events, samples, params and artifacts with the same checks', () => {
    const t = new MemoryTracker('r1', home)
    t.logMetrics(0, { 'train/loss': 2 })
    t.logMetrics(1, { 'train/loss': NaN, 'train/lr': 0.1 })
    t.logMetrics(0, { 'train/lr': 0.05 })
    expect(t.values('train/loss')).toEqual([2, NaN])
    expect(t.latest('train/lr')).toBe(0.1)
    expect(() => t.logMetrics(-1, {})).toThrow(/step must be/)
    t.logEvent('spike', 'big', { x: 1 }, 3)
    t.logSample({ step: 1, prompt: 'p', response: 'r' })
    t.logParams({ n_params: 10 })
    fs.writeFileSync(path.join(home, 'f.txt'), 'abc')
    t.logArtifact({ kind: 'report', path: 'f.txt' })
    t.logArtifact({ kind: 'report', path: path.join(home, 'f.txt'), step: 2 })
    expect(t.artifacts).toHaveLength(1)
    expect(t.artifacts[0]).toMatchObject({ bytes: 3, step: 2, sha256: crypto.createHash('sha256').update('abc').digest('hex') })
    t.removeArtifact('f.txt')
    expect(t.artifacts).toHaveLength(0)
    expect(fs.existsSync(path.join(home, 'f.txt'))).toBe(false)
    expect(() => t.logArtifact({ kind: 'x', path: 'nope' })).toThrow(/does not exist/)
    t.flush()
    expect(t.flushes).toBe(1)
    expect(t.events[0]).toEqual({ kind: 'spike', message: 'big', data: { x: 1 }, step: 3 })
    expect(t.params).toEqual({ n_params: 10 })
  })
})

describe('a long-lived store', () => {
  it('notices a run whose process died after the store was opened', async () => {
    store.close()
    store = Store.open(home, { recheckEveryMs: 100 })
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.startRun(run.id, { pid: 2 ** 22 + 4321, hostname: os.hostname() })
    expect(store.getRunRecord(run.id).status).toBe('running') // no liveness check on a plain record read
    await new Promise((resolve) => setTimeout(resolve, 150))
    expect(store.listRuns()[0].status).toBe('interrupted')
  })
})
