// End to end through real worker processes: cancel (graceful stop), SIGKILL (interrupted), resume,
// and the resumed curve matches an uninterrupted run.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { JobRunner } from '../../core/jobs/runner'
import type { WorkerEvent } from '../../core/jobs/protocol'
import { Store } from '../../core/tracking/store'
import { ConfigError } from '../../core/config/schema'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'

const TEXT = Array.from({ length: 60 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog number ${i % 7}.`).join('\n')

let home: string
let data: string

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-jobs-'))
  data = path.join(home, 'notes.txt')
  fs.writeFileSync(data, TEXT)
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
  max_steps: 16,
  warmup_steps: 2,
  log_every: 1,
  eval_every: 4,
  sample_every: 8,
  sample_tokens: 4,
  checkpoint_every: 4,
})

function lossCurve(runId: string): Map<number, number> {
  const store = Store.open(home)
  try {
    return new Map(store.metricHistory(runId, 'train/loss').map((p) => [p.step, p.value]))
  } finally {
    store.close()
  }
}

function readParams(runId: string): Record<string, string | number | boolean> {
  const store = Store.open(home)
  try {
    return store.getRun(runId).params
  } finally {
    store.close()
  }
}

function status(runId: string): string {
  const store = Store.open(home)
  try {
    return store.getRunRecord(runId).status
  } finally {
    store.close()
  }
}

/** Calls `act` once, when the run logs train metrics for `step` or later. */
function atStep(runner: JobRunner, runId: string, step: number, act: () => void): void {
  let done = false
  const listener = (id: string, event: WorkerEvent) => {
    if (done || id !== runId || event.type !== 'metric' || event.step < step) return
    done = true
    runner.off('event', listener)
    act()
  }
  runner.on('event', listener)
}

describe('JobRunner with real worker processes', () => {
  it('cancel -> stopped, SIGKILL -> interrupted, resume twice -> the same curve as an uninterrupted run', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    const straight = runner.submit({ stage: 'pretrain', config: CONFIG(), name: 'straight' })
    const broken = runner.submit({ stage: 'pretrain', config: CONFIG(), name: 'broken' })
    // Queued immediately, and concurrency 1 keeps the second waiting.
    expect(status(broken)).toBe('queued')
    expect(runner.jobs().queued).toEqual([broken])

    const first = await runner.wait(straight)
    expect(first.status).toBe('finished')
    expect(first.result?.summary.steps).toBe(16)
    // What besides the seed decides the numbers is recorded with the run.
    const params = readParams(straight)
    expect(params.native_matmul).toBe(loadFastGemm() !== null)
    expect(params.threads).toBeGreaterThanOrEqual(1)

    // Graceful cancel at step 5: checkpoint, status stopped.
    atStep(runner, broken, 5, () => runner.cancel(broken))
    const cancelled = await runner.wait(broken)
    expect(cancelled.status).toBe('stopped')
    expect(cancelled.result?.stopped).toBe(true)
    const stoppedAt = cancelled.result?.summary.steps as number
    expect(fs.existsSync(path.join(home, 'runs', broken, 'checkpoints', `step-${String(stoppedAt).padStart(7, '0')}`))).toBe(true)

    // Resume, then SIGKILL the worker mid-run: the next store open says interrupted.
    runner.resume(broken)
    atStep(runner, broken, 11, () => {
      const store = Store.open(home)
      const pid = store.getRunRecord(broken).pid!
      store.close()
      process.kill(pid, 'SIGKILL')
    })
    const killed = await runner.wait(broken)
    expect(killed.signal).toBe('SIGKILL')
    expect(killed.status).toBe('interrupted')

    runner.resume(broken)
    const done = await runner.wait(broken)
    expect(done.status).toBe('finished')

    const a = lossCurve(straight)
    const b = lossCurve(broken)
    expect([...b.keys()]).toEqual([...a.keys()])
    for (const [step, value] of a) expect(b.get(step)!, `train/loss at step ${step}`).toBeCloseTo(value, 5)
  }, 300_000)

  it('rejects a bad config before queueing, and reports a data error as a failed run', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    expect(() => runner.submit({ stage: 'pretrain', config: { ...CONFIG(), max_stepz: 3 } })).toThrow(ConfigError)
    expect(() => runner.submit({ stage: 'nope', config: {} })).toThrow(/unknown stage "nope"/)
    const empty = path.join(home, 'empty.txt')
    fs.writeFileSync(empty, '')
    const id = runner.submit({ stage: 'pretrain', config: { ...CONFIG(), data: [empty] } })
    const exit = await runner.wait(id)
    expect(exit.status).toBe('failed')
    expect(exit.error).toMatch(/empty\.txt/)
    const store = Store.open(home)
    expect(store.getRunRecord(id).error).toMatch(/empty\.txt/)
    store.close()
  }, 120_000)
})
