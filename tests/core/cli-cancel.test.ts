// `workbench cancel <run>`: stops a run another process started (here a JobRunner standing in for
// the app) the way the app's Cancel does, and refuses clearly what it cannot cancel.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { JobRunner } from '../../core/jobs/runner'
import type { WorkerEvent } from '../../core/jobs/protocol'
import { Store } from '../../core/tracking/store'

let home: string
let data: string

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-cancel-'))
  data = path.join(home, 'notes.txt')
  fs.writeFileSync(data, Array.from({ length: 60 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog ${i % 7}.`).join('\n'))
})

async function cancel(...args: string[]) {
  const io = bufferIO()
  const code = await runCli(['cancel', ...args, '--home', home], io)
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') }
}

function withStore<T>(f: (store: Store) => T): T {
  const store = Store.open(home)
  try {
    return f(store)
  } finally {
    store.close()
  }
}

describe('workbench cancel', () => {
  it('stops a run started by another process: checkpoint, status stopped, the cancel in its events', async () => {
    const runner = new JobRunner({ home, backend: 'wasm' })
    const config = { data: [data], vocab_size: 300, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, seq_len: 32, batch_size: 4, max_steps: 5000, warmup_steps: 2, log_every: 1, eval_every: 0, sample_every: 0, checkpoint_every: 0 }
    const id = runner.submit({ stage: 'pretrain', config, name: 'long' })
    await new Promise<void>((resolve) => {
      const listener = (runId: string, event: WorkerEvent) => {
        if (runId !== id || event.type !== 'metric' || event.step < 3) return
        runner.off('event', listener)
        resolve()
      }
      runner.on('event', listener)
    })

    const result = await cancel(id.slice(0, 10))
    expect(result.err).toBe('')
    expect(result.out).toBe(`run ${id} is stopped`)
    expect(result.code).toBe(0)
    expect((await runner.wait(id)).status).toBe('stopped')
    const events = withStore((s) => s.listEvents(id, { kind: 'cancel' }))
    expect(events.map((e) => e.message)).toEqual([expect.stringContaining('cancel requested (SIGTERM)')])
    expect(fs.readdirSync(path.join(home, 'runs', id, 'checkpoints')).length).toBeGreaterThan(0)

    // Now it is not running: a clear refusal.
    const again = await cancel(id)
    expect(again.code).toBe(1)
    expect(again.err).toBe(`error: run ${id} is stopped, so there is nothing to cancel`)
  }, 300_000)

  it('names an unknown run', async () => {
    const result = await cancel('no-such-run')
    expect(result.code).toBe(1)
    expect(result.err).toBe('error: unknown run "no-such-run"')
  })

  it('refuses a queued run (only its own process can drop it) and a run on another machine', async () => {
    const queued = withStore((s) => s.createRun({ stage: 'pretrain', config: {} }).id)
    const result = await cancel(queued)
    expect(result.code).toBe(1)
    expect(result.err).toContain(`run ${queued} is queued and has not started`)
    expect(result.err).toContain(`pid ${process.pid}`)

    const elsewhere = withStore((s) => {
      const run = s.createRun({ stage: 'pretrain', config: {} })
      s.startRun(run.id, { pid: 4242, hostname: 'other-machine' })
      return run.id
    })
    const remote = await cancel(elsewhere)
    expect(remote.code).toBe(1)
    expect(remote.err).toContain('runs on other-machine (pid 4242)')
    expect(withStore((s) => s.getRunRecord(elsewhere).status)).toBe('running')
  })

  it('explains its usage', async () => {
    expect((await cancel()).code).toBe(2)
    const help = bufferIO()
    expect(await runCli(['cancel', '--help'], help)).toBe(0)
    expect(help.stdout.join('\n')).toContain('whoever started it')
  })
})
