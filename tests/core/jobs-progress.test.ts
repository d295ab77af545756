// A run launched the CLI's way (a JobRunner in this process, the run in a worker process) records
// its progress, its cancel, stop and resume, and its system metrics in the store; services that
// did not launch it (the app, web mode) read all of it back from there.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { JobRunner } from '../../core/jobs/runner'
import type { WorkerEvent } from '../../core/jobs/protocol'
import { Store } from '../../core/tracking/store'
import { SYSTEM_METRICS } from '../../core/jobs/systemMetrics'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch, type EventName } from '../../electron/shared/api'

const TEXT = Array.from({ length: 60 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog number ${i % 7}.`).join('\n')

let home: string
let data: string

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-jobs-progress-'))
  data = path.join(home, 'notes.txt')
  fs.writeFileSync(data, TEXT)
})
afterAll(() => {
  fs.rmSync(home, { recursive: true, force: true })
})

const CONFIG = () => ({
  data: [data],
  vocab_size: 300,
  dim: 32,
  n_layers: 2,
  n_heads: 4,
  n_kv_heads: 2,
  seq_len: 32,
  batch_size: 4,
  max_steps: 12,
  warmup_steps: 2,
  log_every: 1,
  eval_every: 4,
  sample_every: 0,
  checkpoint_every: 2,
})

function withStore<T>(read: (store: Store) => T): T {
  const store = Store.open(home)
  try {
    return read(store)
  } finally {
    store.close()
  }
}

/** Calls `act` once, when the run logs train metrics for `step` or later. */
function atStep(runner: JobRunner, runId: string, step: number, act: () => void): void {
  let done = false
  const listener = (id: string, event: WorkerEvent) => {
    if (done || id !== runId || event.type !== 'metric' || !('train/loss' in event.values) || event.step < step) return
    done = true
    runner.off('event', listener)
    act()
  }
  runner.on('event', listener)
}

describe('a run launched from the CLI, seen from the store and the services', () => {
  it('records progress, cancel, stop, resume and system metrics that other viewers read back', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    const id = runner.submit({ stage: 'pretrain', config: CONFIG(), name: 'cli-run' })

    // While it runs, its progress row is in the store, written by the worker (not by this process).
    let seenRunning: { step: number; totalSteps: number } | null = null
    atStep(runner, id, 3, () => {
      seenRunning = withStore((s) => s.getProgress(id))
      runner.cancel(id) // what the CLI's Ctrl-C does
    })
    const stopped = await runner.wait(id)
    expect(stopped.status).toBe('stopped')
    expect(seenRunning).not.toBeNull()
    expect(seenRunning!.totalSteps).toBe(12)
    expect(seenRunning!.step).toBeGreaterThanOrEqual(1)

    const stoppedAt = stopped.result!.summary.steps as number
    const afterStop = withStore((s) => ({ progress: s.getProgress(id), events: s.listEvents(id) }))
    // The last progress the worker reported is written before it ends, whatever the throttle.
    expect(afterStop.progress?.step).toBe(stoppedAt)
    const cancel = afterStop.events.find((e) => e.kind === 'cancel')
    expect(cancel?.message).toMatch(/cancel requested \(SIGTERM\)/)
    expect(afterStop.events.find((e) => e.kind === 'stopped')?.message).toBe(`stopped at step ${stoppedAt}; resume continues from its last checkpoint`)

    runner.resume(id)
    const done = await runner.wait(id)
    expect(done.status).toBe('finished')

    // Services that did not launch the run (the app opened afterwards, or another window).
    const hub = new EventHub()
    const services: Services = createServices({ home, emit: hub.emit, mode: 'web', backend: 'cpu' })
    const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>
    try {
      const detail = await call('runs:get', { id })
      expect(detail.progress).toMatchObject({ step: 12, totalSteps: 12 })
      const listed = (await call('runs:list', {})).find((r: any) => r.id === id)
      expect(listed.progress).toMatchObject({ step: 12, totalSteps: 12 })

      const events = await call('runs:events', { id })
      const kinds = events.map((e: any) => e.kind)
      expect(kinds).toEqual(expect.arrayContaining(['cancel', 'stopped', 'resume']))
      expect(kinds.indexOf('cancel')).toBeLessThan(kinds.indexOf('resume'))
      const resume = events.find((e: any) => e.kind === 'resume')
      expect(resume.message).toBe(`resumed from checkpoint step-${String(stoppedAt).padStart(7, '0')}`)

      // System metrics, with a sample at the start and the end of each attempt.
      const metrics = await call('runs:metrics', { id })
      const byKey = new Map<string, any>(metrics.map((s: any) => [s.key, s]))
      for (const key of [SYSTEM_METRICS.cpu, SYSTEM_METRICS.rss, SYSTEM_METRICS.backend, SYSTEM_METRICS.wasmHeap]) {
        expect(byKey.has(key), key).toBe(true)
      }
      const rss = byKey.get(SYSTEM_METRICS.rss)
      expect(rss.steps.at(-1)).toBe(12)
      expect(Math.min(...rss.values)).toBeGreaterThan(10) // MB: a tfjs worker holds tens at least
      expect(Math.max(...byKey.get(SYSTEM_METRICS.backend).values)).toBeGreaterThan(0)
    } finally {
      await services.close()
    }
  }, 300_000)

  it('records a queued run\'s cancel, and a kill by a second cancel followed by the interruption', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    const running = runner.submit({ stage: 'pretrain', config: { ...CONFIG(), max_steps: 500 }, name: 'to-kill' })
    const queued = runner.submit({ stage: 'pretrain', config: CONFIG(), name: 'never-started' })
    expect(runner.cancel(queued)).toBe(true)
    atStep(runner, running, 1, () => {
      runner.cancel(running)
      runner.cancel(running) // at once: no time to checkpoint, SIGKILL
    })
    const exit = await runner.wait(running)
    expect(exit.signal).toBe('SIGKILL')
    expect(exit.status).toBe('interrupted')
    const events = withStore((s) => ({ queued: s.listEvents(queued), running: s.listEvents(running) }))
    expect(events.queued.map((e) => [e.kind, e.message])).toEqual([['cancel', 'cancelled before it started']])
    const kinds = events.running.map((e) => e.kind)
    expect(kinds).toEqual(expect.arrayContaining(['kill', 'interrupted']))
    expect(events.running.find((e) => e.kind === 'kill')?.message).toBe('killed by a second cancel')
  }, 120_000)

  it('pushes the progress a run started elsewhere records, to the page', async () => {
    const hub = new EventHub()
    const pushed: { event: EventName; payload: any }[] = []
    hub.subscribe((event, payload) => pushed.push({ event, payload }))
    // A run another process (the CLI) is running: owned by a live process (this one) on this host.
    const id = withStore((s) => s.createRun({ stage: 'pretrain', config: {}, status: 'running' }).id)
    const services: Services = createServices({ home, emit: hub.emit, mode: 'web', backend: 'cpu', watchIntervalMs: 50 })
    try {
      withStore((s) => s.recordProgress(id, { step: 7, totalSteps: 40, etaSeconds: 99 }))
      const update = await waitFor(() => pushed.find((e) => e.event === 'run:update' && e.payload.id === id && e.payload.progress))
      expect(update.payload.progress).toMatchObject({ step: 7, totalSteps: 40 })
      expect(update.payload.progress.etaSeconds).toBeLessThanOrEqual(99)
    } finally {
      await services.close()
      withStore((s) => s.finishRun(id, 'stopped'))
    }
  })
})

/** Polls until `find` returns something (the services look at the store on a timer). */
async function waitFor<T>(find: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const start = Date.now()
  for (;;) {
    const found = find()
    if (found !== undefined) return found
    if (Date.now() - start > timeoutMs) throw new Error('nothing pushed within the time limit')
    await new Promise((r) => setTimeout(r, 20))
  }
}
