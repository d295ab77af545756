// A job asked to run on WebGPU where Node has no adapter (Dawn's binding missing, or no GPU driver it
// can use): the worker fails the run with the reason and what to do, through the ordinary job
// protocol, and the store records it; it never falls back to the CPU unasked.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { JobRunner } from '../../core/jobs/runner'
import type { WorkerEvent } from '../../core/jobs/protocol'
import { Store } from '../../core/tracking/store'

describe('a webgpu job without an adapter', () => {
  it('fails with "no WebGPU adapter was found" and what to do, recorded with the run', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-webgpu-'))
    const data = path.join(home, 'notes.txt')
    fs.writeFileSync(data, Array.from({ length: 40 }, (_, i) => `Line ${i}: the quick brown fox.`).join('\n'))
    const runner = new JobRunner({ home, backend: 'webgpu' })
    const events: WorkerEvent[] = []
    runner.on('event', (_id: string, event: WorkerEvent) => events.push(event))
    const id = runner.submit({ stage: 'pretrain', config: { data: [data], vocab_size: 300, dim: 32, n_layers: 2, n_heads: 4, seq_len: 32, batch_size: 2, max_steps: 2 } })
    const exit = await runner.wait(id)
    expect(exit.status).toBe('failed')
    expect(exit.error).toMatch(/^backend webgpu: no WebGPU adapter was found: .*npm install webgpu/)
    expect(events).toContainEqual(expect.objectContaining({ type: 'error', message: exit.error }))
    const store = Store.open(home)
    try {
      expect(store.getRunRecord(id).error).toBe(exit.error)
    } finally {
      store.close()
      fs.rmSync(home, { recursive: true, force: true })
    }
  }, 120_000)
})
