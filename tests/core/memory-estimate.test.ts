// The training-memory estimate (core/model/config.ts estimateMemoryBytes, shown by the New run
// form and checked before a run) against the peak resident memory of real training steps, each in
// a fresh process: within 20% on one thread, with threads inside the native matmul, and with a
// gradient worker (whose model copy and runtime the estimate must count).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, it, expect } from 'vitest'
import { estimateMemoryBytes, resolveModelConfig } from '../../core/model/config'
import { threadPlan } from '../../core/train/parallel/threads'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'trainStepRss.ts')
// The tiny preset at batch 4: large enough that activations (about a third of the peak) and not
// only the runtime decide the figure, small enough for a test.
const CONFIG = { vocab_size: 512, dim: 128, n_layers: 4, n_heads: 4, n_kv_heads: 2, hidden_dim: 384, max_seq_len: 128 }
const BATCH = 4

/** Peak RSS of the fixture's training steps. Run asynchronously: a blocking wait stalls vitest's worker. */
async function measuredPeakRss(workers: number, kernelThreads: number): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(CONFIG), String(BATCH), String(workers), String(kernelThreads)], { encoding: 'utf8' })
  return (JSON.parse(stdout.trim().split('\n').pop()!) as { maxRssBytes: number }).maxRssBytes
}

describe('training memory estimate', () => {
  const cfg = resolveModelConfig(CONFIG)

  it.each([
    ['one thread', 0, 1],
    ['two threads inside the native matmul', 0, 2],
    ['one gradient worker', 1, 1],
  ] as const)('is within 20%% of the measured peak RSS: %s', async (_, workers, kernelThreads) => {
    // The fixture uses the fused native kernels when the addon is built, as training does.
    const estimate = estimateMemoryBytes(cfg, BATCH, CONFIG.max_seq_len, { workers, kernelThreads }, loadFastGemm() !== null)
    const measured = await measuredPeakRss(workers, kernelThreads)
    expect(estimate.totalBytes / measured, `estimate ${Math.round(estimate.totalBytes / 2 ** 20)} MB, measured ${Math.round(measured / 2 ** 20)} MB`).toBeGreaterThan(0.8)
    expect(estimate.totalBytes / measured).toBeLessThan(1.2)
  })

  it("counts a model copy per gradient worker and only buffers per kernel thread", () => {
    const one = estimateMemoryBytes(cfg, BATCH, CONFIG.max_seq_len, threadPlan(1, 'kernel', 'wasm', BATCH, true, true))
    const kernel = estimateMemoryBytes(cfg, BATCH, CONFIG.max_seq_len, threadPlan(4, 'kernel', 'wasm', BATCH, true, true))
    const workers = estimateMemoryBytes(cfg, BATCH, CONFIG.max_seq_len, threadPlan(4, 'workers', 'wasm', BATCH, true, true))
    expect(one.threadsBytes).toBe(0)
    expect(kernel.threadsBytes).toBeGreaterThan(0)
    expect(kernel.threadsBytes).toBeLessThan(10 * 2 ** 20)
    expect(workers.threadsBytes).toBeGreaterThan(3 * 100 * 2 ** 20)
    expect(workers.activationsBytes).toBe(one.activationsBytes)
  })
})
