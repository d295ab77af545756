// Data-parallel training: shards weighted so the loss is unchanged, and gradients from worker
// threads that equal those of one thread computing the whole batch.
import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { Llama } from '../../core/model/llama'
import type { Batch } from '../../core/train/batches'
import { splitBatch } from '../../core/train/parallel/shards'
import { trainingThreads } from '../../core/train/parallel/threads'
import { GradientWorkers } from '../../core/train/parallel/gradientWorkers'
import { disposeStep, localGradients, parallelGradients } from '../../core/train/parallel/dataParallel'
import { mulberry32 } from '../../core/util/random'

const CONFIG = { vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 64, max_seq_len: 16 }

function randomBatch(batchSize: number, seqLen: number, seed: number, withMask: boolean): Batch {
  const rand = mulberry32(seed)
  const n = batchSize * seqLen
  const tokens = Int32Array.from({ length: n }, () => Math.floor(rand() * CONFIG.vocab_size))
  const targets = Int32Array.from({ length: n }, () => Math.floor(rand() * CONFIG.vocab_size))
  // A mask that differs per row, so shards carry unequal numbers of trained tokens.
  const mask = withMask ? Float32Array.from({ length: n }, (_, i) => (i % seqLen >= (Math.floor(i / seqLen) * 3) % seqLen ? 1 : 0)) : undefined
  return { tokens, targets, mask, batchSize, seqLen }
}

beforeAll(async () => {
  await initBackend()
})

describe('splitBatch', () => {
  it('splits rows into near-equal contiguous shards weighted by trained tokens', () => {
    const batch = randomBatch(5, 4, 1, false)
    const shards = splitBatch(batch, 2)
    expect(shards.map((s) => s.batch.batchSize)).toEqual([3, 2])
    expect(shards.map((s) => s.weight)).toEqual([0.6, 0.4])
    expect(Array.from(shards[1].batch.tokens)).toEqual(Array.from(batch.tokens.subarray(12)))
  })

  it('weights by the mask and leaves out shards with nothing to train', () => {
    const batch: Batch = { ...randomBatch(3, 2, 2, false), mask: Float32Array.from([1, 1, 0, 0, 1, 0]) }
    const shards = splitBatch(batch, 3)
    expect(shards.map((s) => s.weight)).toEqual([2 / 3, 1 / 3])
    expect(shards.map((s) => Array.from(s.batch.mask!))).toEqual([[1, 1], [1, 0]])
  })

  it('never makes more shards than rows', () => {
    expect(splitBatch(randomBatch(2, 4, 3, false), 8)).toHaveLength(2)
  })
})

describe('trainingThreads', () => {
  it('uses the setting, one per core for 0, at most one per row, and one on native backends', () => {
    expect(trainingThreads(3, 'wasm', 16)).toBe(3)
    expect(trainingThreads(0, 'cpu', 1024)).toBeGreaterThanOrEqual(1)
    expect(trainingThreads(8, 'wasm', 2)).toBe(2)
    expect(trainingThreads(4, 'tensorflow', 16)).toBe(1)
  })
})

describe.each(['wasm', 'cpu'] as const)('gradient workers on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
  })

  it('give the same loss and gradients as one thread on the whole batch, masked and across micro-batches', async () => {
    expect(tf.getBackend()).toBe(backend)
    const model = Llama.create(CONFIG, 7)
    const lossOf = (t: { tokens: tf.Tensor2D; targets: tf.Tensor2D; mask?: tf.Tensor2D }) => model.loss(t.tokens, t.targets, t.mask)
    const micro = [randomBatch(5, 16, 11, true), randomBatch(5, 16, 12, true)]
    const pool = await GradientWorkers.start(model.config, model.weights, tf.getBackend(), 2)
    try {
      const one = localGradients(micro, lossOf)
      const three = await parallelGradients(micro, lossOf, pool)
      expect(three.loss.dataSync()[0]).toBeCloseTo(one.loss.dataSync()[0], 5)
      expect(Object.keys(three.grads).sort()).toEqual(Object.keys(one.grads).sort())
      for (const key of Object.keys(one.grads)) {
        const a = one.grads[key].dataSync()
        const b = three.grads[key].dataSync()
        const scale = Math.max(...Array.from(a, Math.abs))
        const worst = Math.max(...Array.from(a, (x, i) => Math.abs(x - b[i])))
        expect(worst, key).toBeLessThan(1e-5 * Math.max(scale, 1e-3))
      }
      disposeStep(one)
      disposeStep(three)

      // After the weights change, the workers see the new weights.
      const w = model.weights['model.norm.weight']
      w.assign(tf.mul(w, 1.5))
      const oneAfter = localGradients(micro, lossOf)
      const threeAfter = await parallelGradients(micro, lossOf, pool)
      expect(threeAfter.loss.dataSync()[0]).toBeCloseTo(oneAfter.loss.dataSync()[0], 5)
      disposeStep(oneAfter)
      disposeStep(threeAfter)
    } finally {
      await pool.close()
      model.dispose()
    }
  })

  it('report a failing worker as an error naming it, not a hang', async () => {
    const model = Llama.create(CONFIG, 7)
    const pool = await GradientWorkers.start(model.config, model.weights, tf.getBackend(), 1)
    try {
      // A token id outside the vocabulary in the second row (the worker's shard) makes its
      // embedding lookup throw.
      const bad = randomBatch(2, 16, 5, false)
      bad.tokens.fill(10_000, 16)
      const lossOf = (t: { tokens: tf.Tensor2D; targets: tf.Tensor2D; mask?: tf.Tensor2D }) => model.loss(t.tokens, t.targets, t.mask)
      await expect(parallelGradients([bad], lossOf, pool)).rejects.toThrow(/gradient worker 1/)
    } finally {
      await pool.close()
      model.dispose()
    }
  })
})
