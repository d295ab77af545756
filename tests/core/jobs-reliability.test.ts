// Issue 17: a run whose queuing process died before its worker started is recoverable, and a
// store that cannot be read when a worker exits is a logged event, never a crash.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { JobRunner } from '../../core/jobs/runner'
import { Store } from '../../core/tracking/store'

const require = createRequire(import.meta.url)
const TSX = pathToFileURL(require.resolve('tsx')).href
const STORE_TS = pathToFileURL(path.resolve('core/tracking/store.ts')).href

let home: string
let data: string

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-reliab-'))
  data = path.join(home, 'notes.txt')
  fs.writeFileSync(data, Array.from({ length: 40 }, (_, i) => `Line ${i}: the quick brown fox ${i % 5}.`).join('\n'))
})
afterEach(() => {
  vi.restoreAllMocks()
  fs.rmSync(home, { recursive: true, force: true })
})

const TINY = () => ({
  data: [data],
  vocab_size: 280,
  dim: 32,
  n_layers: 2,
  n_heads: 4,
  n_kv_heads: 2,
  seq_len: 32,
  batch_size: 2,
  max_steps: 3,
  warmup_steps: 1,
  log_every: 1,
  eval_every: 0,
  sample_every: 0,
  checkpoint_every: 0,
})

function runStatus(id: string): { status: string; error: string | null } {
  const store = Store.open(home)
  try {
    const run = store.getRunRecord(id)
    return { status: run.status, error: run.error }
  } finally {
    store.close()
  }
}

describe('a run recorded as queued whose process died before the worker started', () => {
  it('becomes interrupted on the next open and can be resumed to the end', async () => {
    // A separate process records the run exactly as JobRunner.submit does, then dies by SIGKILL
    // before it could start a worker.
    const script =
      `const { Store } = await import(${JSON.stringify(STORE_TS)});` +
      `const s = Store.open(${JSON.stringify(home)});` +
      `const r = s.createRun({ stage: 'pretrain', config: ${JSON.stringify(TINY())}, seed: 1 });` +
      `process.stdout.write(r.id + '\\n');` +
      `process.kill(process.pid, 'SIGKILL')`
    const child = spawnSync(process.execPath, ['--import', TSX, '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(child.signal).toBe('SIGKILL')
    const id = child.stdout.trim()
    expect(id).toMatch(/\w+/)

    const after = runStatus(id)
    expect(after.status).toBe('interrupted')
    expect(after.error).toMatch(/which queued it, is gone; its worker never started/)

    const runner = new JobRunner({ home, backend: 'wasm' })
    expect(runner.resume(id)).toBe(id)
    const exit = await runner.wait(id)
    expect(exit.error).toBeUndefined()
    expect(exit.status).toBe('finished')
  }, 120_000)

  it('leaves a queued run alone while the process that queued it is alive', () => {
    const store = Store.open(home)
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.close()
    expect(runStatus(run.id).status).toBe('queued')
  })
})

describe('two resumes of the same run at once (two processes)', () => {
  it('the second worker fails to start and leaves the run to the first, which finishes it', async () => {
    const store = Store.open(home)
    const run = store.createRun({ stage: 'pretrain', config: TINY(), seed: 1 })
    store.finishRun(run.id, 'stopped', 'stopped before it started')
    store.close()
    // Two runners stand for two processes (the server and a CLI): neither knows of the other's job.
    const a = new JobRunner({ home, backend: 'wasm' })
    const b = new JobRunner({ home, backend: 'wasm' })
    a.resume(run.id)
    b.resume(run.id)
    const exits = await Promise.all([a.wait(run.id), b.wait(run.id)])
    expect(exits.filter((e) => e.error?.includes('it cannot become running')).length).toBe(1)
    expect(runStatus(run.id)).toEqual({ status: 'finished', error: null })
  }, 120_000)
})

describe('a store that fails when a worker exits', () => {
  it('is logged and reported in the exit event; the process does not crash', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    const id = runner.submit({ stage: 'pretrain', config: TINY() })
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    // From now on every Store.open fails the way a store whose WAL was deleted does.
    vi.spyOn(Store, 'open').mockImplementation(() => {
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR_SHORT_READ' })
    })
    const exits: string[] = []
    runner.on('exit', (runId: string) => exits.push(runId))
    const exit = await runner.wait(id)
    expect(exits).toEqual([id])
    // The worker reported its result before it exited; that is what the exit says.
    expect(exit.status).toBe('finished')
    expect(exit.error).toBeUndefined()
    expect(logged.mock.calls.flat().join(' ')).toMatch(/could not record how run .* ended: disk I\/O error/)
  }, 120_000)
})

describe('a full disk', () => {
  it('fails the run with an error that names the file being written', async () => {
    // The worker inherits the environment: the preload makes writes of model.safetensors fail
    // with ENOSPC, as a full disk does, while the store keeps working.
    const preload = pathToFileURL(path.resolve('tests/fixtures/faults/enospc.mjs')).href
    const saved = { options: process.env.NODE_OPTIONS, file: process.env.WB_ENOSPC_FILE }
    process.env.NODE_OPTIONS = `${saved.options ?? ''} --import ${preload}`.trim()
    process.env.WB_ENOSPC_FILE = 'model.safetensors'
    try {
      const runner = new JobRunner({ home, backend: 'wasm' })
      const id = runner.submit({ stage: 'pretrain', config: TINY() })
      const exit = await runner.wait(id)
      expect(exit.status).toBe('failed')
      const recorded = runStatus(id)
      expect(recorded.status).toBe('failed')
      expect(recorded.error).toMatch(/could not save checkpoint .*: could not write .*model\.safetensors: no space left on device \(ENOSPC\)/)
    } finally {
      for (const [key, value] of [['NODE_OPTIONS', saved.options], ['WB_ENOSPC_FILE', saved.file]] as const) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
    }
  }, 120_000)
})

describe('writingFile', () => {
  it('names the file in an OS write error and keeps its code', async () => {
    const { writingFile } = await import('../../core/util/files')
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    let caught: unknown
    try {
      writingFile('/x/model.safetensors', () => {
        throw full
      })
    } catch (error) {
      caught = error
    }
    expect((caught as Error).message).toBe('could not write /x/model.safetensors: no space left on device (ENOSPC)')
    expect((caught as NodeJS.ErrnoException).code).toBe('ENOSPC')
  })
})
