// Data-parallel training: shards weighted so the loss is unchanged, and gradients from worker
// threads that equal those of one thread computing the whole batch.
import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { Llama } from '../../core/model/llama'
import { ScalarHead } from '../../core/model/heads'
import { trainableTokens, type Batch } from '../../core/train/batches'
import { languageModelTask } from '../../core/train/languageModel'
import { splitBatch } from '../../core/train/parallel/shards'
import { trainingThreads } from '../../core/train/parallel/threads'
import { GradientWorkers } from '../../core/train/parallel/gradientWorkers'
import { disposeStep, localGradients, parallelGradients, type StepGradients } from '../../core/train/parallel/dataParallel'
import { mulberry32 } from '../../core/util/random'
import { pairwiseRewardTask, randomPairs } from './fixtures/pairwiseReward'

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

/** Same loss, metrics and gradients up to float summation order. */
function expectSameStep(a: StepGradients, b: StepGradients): void {
  expect(b.loss.dataSync()[0]).toBeCloseTo(a.loss.dataSync()[0], 5)
  expect(Object.keys(b.metrics).sort()).toEqual(Object.keys(a.metrics).sort())
  for (const key of Object.keys(a.metrics)) expect(b.metrics[key].dataSync()[0], key).toBeCloseTo(a.metrics[key].dataSync()[0], 5)
  expect(Object.keys(b.grads).sort()).toEqual(Object.keys(a.grads).sort())
  for (const key of Object.keys(a.grads)) {
    const x = a.grads[key].dataSync()
    const y = b.grads[key].dataSync()
    const scale = Math.max(...Array.from(x, Math.abs))
    const worst = Math.max(...Array.from(x, (v, i) => Math.abs(v - y[i])))
    expect(worst, key).toBeLessThan(1e-5 * Math.max(scale, 1e-3))
  }
}

/** Rows of a then rows of b, as one batch. */
function concatRows(a: Batch, b: Batch): Batch {
  const join = <T extends Int32Array | Float32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length)
    out.set(x)
    out.set(y, x.length)
    return out
  }
  return {
    tokens: join(a.tokens, b.tokens, (n) => new Int32Array(n)),
    targets: join(a.targets, b.targets, (n) => new Int32Array(n)),
    mask: join(a.mask!, b.mask!, (n) => new Float32Array(n)),
    batchSize: a.batchSize + b.batchSize,
    seqLen: a.seqLen,
  }
}

describe('gradient accumulation', () => {
  it('weights micro-batches by trained tokens, so two micro-batches give the gradient of one batch of both', () => {
    const model = Llama.create(CONFIG, 7)
    const task = languageModelTask(model)
    const a = randomBatch(2, 16, 21, true)
    // b trains on far fewer tokens than a: an unweighted mean of the two means would overweight it.
    const b: Batch = { ...randomBatch(3, 16, 22, false), mask: Float32Array.from({ length: 48 }, (_, i) => (i % 16 < 2 ? 1 : 0)) }
    expect(trainableTokens(a)).not.toBe(trainableTokens(b))
    const accumulated = localGradients([a, b], task, model.weights)
    const whole = localGradients([concatRows(a, b)], task, model.weights)
    try {
      expectSameStep(whole, accumulated)
    } finally {
      disposeStep(accumulated)
      disposeStep(whole)
      model.dispose()
    }
  })
})

describe('splitBatch', () => {
  it('splits rows into near-equal contiguous shards weighted by trained tokens', () => {
    const batch = randomBatch(5, 4, 1, false)
    const shards = splitBatch(batch, 2, trainableTokens)
    expect(shards.map((s) => s.batch.batchSize)).toEqual([3, 2])
    expect(shards.map((s) => s.units)).toEqual([12, 8])
    expect(Array.from(shards[1].batch.tokens)).toEqual(Array.from(batch.tokens.subarray(12)))
  })

  it('weights by the mask and leaves out shards with nothing to train', () => {
    const batch: Batch = { ...randomBatch(3, 2, 2, false), mask: Float32Array.from([1, 1, 0, 0, 1, 0]) }
    const shards = splitBatch(batch, 3, trainableTokens)
    expect(shards.map((s) => s.units)).toEqual([2, 1])
    expect(shards.map((s) => Array.from(s.batch.mask!))).toEqual([[1, 1], [1, 0]])
  })

  it('never makes more shards than rows', () => {
    expect(splitBatch(randomBatch(2, 4, 3, false), 8, trainableTokens)).toHaveLength(2)
  })

  it('splits any row batch: every typed array by its own row length, other fields kept', () => {
    const pairs = randomPairs(5, 4, 50, mulberry32(4))
    const [first, second] = splitBatch(pairs, 2, (p) => p.batchSize)
    expect(second.batch.batchSize).toBe(2)
    expect(second.batch.seqLen).toBe(4)
    expect(Array.from(second.batch.rejected)).toEqual(Array.from(pairs.rejected.subarray(12)))
    expect(Array.from(second.batch.chosenLast)).toEqual(Array.from(pairs.chosenLast.subarray(3)))
    expect(first.units + second.units).toBe(5)
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
    const task = languageModelTask(model)
    const micro = [randomBatch(5, 16, 11, true), randomBatch(5, 16, 12, true)]
    const pool = await GradientWorkers.start(task.replica!, model.weights, tf.getBackend(), 2)
    try {
      const one = localGradients(micro, task, model.weights)
      const three = await parallelGradients(micro, task, model.weights, pool)
      expectSameStep(one, three)
      disposeStep(one)
      disposeStep(three)

      // After the weights change, the workers see the new weights.
      const w = model.weights['model.norm.weight']
      w.assign(tf.mul(w, 1.5))
      const oneAfter = localGradients(micro, task, model.weights)
      const threeAfter = await parallelGradients(micro, task, model.weights, pool)
      expect(threeAfter.loss.dataSync()[0]).toBeCloseTo(oneAfter.loss.dataSync()[0], 5)
      disposeStep(oneAfter)
      disposeStep(threeAfter)
    } finally {
      await pool.close()
      model.dispose()
    }
  })

  it('serve any loss a stage defines: a pairwise reward loss on a trunk + head, with its metric, also for the head alone', async () => {
    const model = Llama.create(CONFIG, 8)
    const head = ScalarHead.create('reward', CONFIG.dim, 3)
    const task = pairwiseRewardTask(model, head)
    const rand = mulberry32(9)
    const micro = [randomPairs(5, 16, CONFIG.vocab_size, rand), randomPairs(3, 16, CONFIG.vocab_size, rand)]
    const everything = { ...model.weights, 'score.weight': head.weight }
    const headOnly = { 'score.weight': head.weight }
    const pool = await GradientWorkers.start(task.replica!, everything, tf.getBackend(), 2)
    const headPool = await GradientWorkers.start(task.replica!, headOnly, tf.getBackend(), 1)
    try {
      const one = localGradients(micro, task, everything)
      const three = await parallelGradients(micro, task, everything, pool)
      expect(Object.keys(one.metrics)).toEqual(['accuracy'])
      expect(Object.keys(one.grads)).toContain(head.weight.name)
      expectSameStep(one, three)
      disposeStep(one)
      disposeStep(three)

      // The trunk frozen: only the head's gradient, from a worker that holds the trunk too.
      const oneHead = localGradients(micro, task, headOnly)
      const twoHead = await parallelGradients(micro, task, headOnly, headPool)
      expect(Object.keys(twoHead.grads)).toEqual([head.weight.name])
      expectSameStep(oneHead, twoHead)
      disposeStep(oneHead)
      disposeStep(twoHead)
    } finally {
      await pool.close()
      await headPool.close()
      model.dispose()
      head.dispose()
    }
  })

  it('report a failing worker as an error naming it, not a hang', async () => {
    const model = Llama.create(CONFIG, 7)
    const pool = await GradientWorkers.start(languageModelTask(model).replica!, model.weights, tf.getBackend(), 1)
    try {
      // A token id outside the vocabulary in the second row (the worker's shard) makes its
      // embedding lookup throw.
      const bad = randomBatch(2, 16, 5, false)
      bad.tokens.fill(10_000, 16)
      await expect(parallelGradients([bad], languageModelTask(model), model.weights, pool)).rejects.toThrow(/gradient worker 1/)
    } finally {
      await pool.close()
      model.dispose()
    }
  })
})
