// Generation: greedy determinism, seeded sampling, stop tokens, top-k / top-p, abort, KV cache,
// and batched generation (each row as it would be alone, logprobs, dropped rows).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { generate, generateBatch, sampleFromLogits } from '../../core/model/generate'
import { mulberry32 } from '../../core/util/random'
import { Llama } from '../../core/model/llama'

describe('sampleFromLogits', () => {
  const logits = Float32Array.from([1.0, 3.0, 2.0, 0.5, 2.9])

  it('is argmax at temperature 0', () => {
    expect(sampleFromLogits(logits, { temperature: 0 }, mulberry32(1))).toBe(1)
  })

  it('keeps only the top k tokens', () => {
    const rand = mulberry32(2)
    const seen = new Set<number>()
    for (let i = 0; i < 300; i++) seen.add(sampleFromLogits(logits, { temperature: 1, topK: 2 }, rand))
    expect([...seen].sort()).toEqual([1, 4])
  })

  it('keeps the smallest set reaching top p', () => {
    // Probabilities at temperature 1: id1 0.372, id4 0.336, id2 0.137, id0 0.050, id3 0.030 (after normalising).
    const rand = mulberry32(3)
    const seen = new Set<number>()
    for (let i = 0; i < 300; i++) seen.add(sampleFromLogits(logits, { temperature: 1, topP: 0.5 }, rand))
    expect([...seen].sort()).toEqual([1, 4])
    const one = new Set<number>()
    for (let i = 0; i < 100; i++) one.add(sampleFromLogits(logits, { temperature: 1, topP: 0.01 }, rand))
    expect([...one]).toEqual([1])
  })

  it('samples every token at a high temperature, in proportion', () => {
    const rand = mulberry32(4)
    const counts = new Array(5).fill(0)
    for (let i = 0; i < 4000; i++) counts[sampleFromLogits(logits, { temperature: 1 }, rand)]++
    const z = [...logits].reduce((s, l) => s + Math.exp(l), 0)
    counts.forEach((c, id) => expect(Math.abs(c / 4000 - Math.exp(logits[id]) / z)).toBeLessThan(0.03))
  })

  it('top-k keeps the k largest, ties to the lower id', () => {
    const tied = Float32Array.from([2, 5, 5, 1, 5])
    const seen = new Set<number>()
    const rand = mulberry32(5)
    for (let i = 0; i < 200; i++) seen.add(sampleFromLogits(tied, { temperature: 1, topK: 2 }, rand))
    expect([...seen].sort()).toEqual([1, 2])
  })

  it('rejects bad options', () => {
    expect(() => sampleFromLogits(logits, { temperature: -1 }, Math.random)).toThrow('temperature')
    expect(() => sampleFromLogits(logits, { topP: 0 }, Math.random)).toThrow('topP')
    expect(() => sampleFromLogits(logits, { topK: 1.5 }, Math.random)).toThrow('topK')
  })
})

/** log softmax(logits / t)[id], in float64: the reference for the logprobs generateBatch returns. */
function logSoftmaxAt(logits: number[], id: number, t: number): number {
  const max = Math.max(...logits)
  const sum = logits.reduce((s, l) => s + Math.exp((l - max) / t), 0)
  return (logits[id] - max) / t - Math.log(sum)
}

describe.each(['cpu', 'wasm'] as const)('generate on %s', (backend) => {
  let model: Llama
  beforeAll(async () => {
    await initBackend(backend)
    model = Llama.create({ vocab_size: 41, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 48, max_seq_len: 32 }, 5)
  })
  afterAll(() => model.dispose())

  it('greedy decoding is deterministic and the same with and without the KV cache', async () => {
    const a = await generate(model, [1, 2, 3], { maxNewTokens: 10, temperature: 0 })
    const b = await generate(model, [1, 2, 3], { maxNewTokens: 10, temperature: 0, useCache: false })
    expect(a.ids).toHaveLength(10)
    expect(a.stoppedBy).toBe('length')
    expect(b.ids).toEqual(a.ids)
  })

  it('seeded sampling is reproducible, and another seed differs', async () => {
    const opts = { maxNewTokens: 12, temperature: 1.5, seed: 42 }
    const a = await generate(model, [1, 2], opts)
    const b = await generate(model, [1, 2], opts)
    const c = await generate(model, [1, 2], { ...opts, seed: 43 })
    expect(b.ids).toEqual(a.ids)
    expect(c.ids).not.toEqual(a.ids)
  })

  it('stops on a stop token (not included) and streams every token', async () => {
    const greedy = await generate(model, [1, 2, 3], { maxNewTokens: 5, temperature: 0 })
    const streamed: number[] = []
    const stopped = await generate(model, [1, 2, 3], { maxNewTokens: 5, temperature: 0, stopIds: [greedy.ids[2]], onToken: (id) => streamed.push(id) })
    const firstStop = greedy.ids.indexOf(greedy.ids[2])
    expect(stopped.stoppedBy).toBe('stop')
    expect(stopped.ids).toEqual(greedy.ids.slice(0, firstStop))
    expect(streamed).toEqual(stopped.ids)
  })

  it('frees its KV cache: the tensor count is the same after every call', async () => {
    await generate(model, [1, 2], { maxNewTokens: 5, temperature: 0 }) // builds the decode weight cache
    const before = tf.memory().numTensors
    await generate(model, [1, 2], { maxNewTokens: 5, temperature: 0.8, seed: 1 })
    await generate(model, [1, 2, 3], { maxNewTokens: 7, temperature: 0, useCache: false })
    expect(tf.memory().numTensors).toBe(before)
  })

  it('top-k 1 is greedy', async () => {
    const greedy = await generate(model, [4], { maxNewTokens: 6, temperature: 0 })
    const topK = await generate(model, [4], { maxNewTokens: 6, temperature: 1, topK: 1, seed: 9 })
    expect(topK.ids).toEqual(greedy.ids)
  })

  const prompts = [[1, 2, 3], [5], [7, 8, 9, 10, 11, 12], [2, 2]]

  it('batched greedy decoding gives each row the tokens it gets alone, with and without the cache', async () => {
    const alone = await Promise.all(prompts.map((p) => generate(model, p, { maxNewTokens: 9, temperature: 0 })))
    const batch = await generateBatch(model, prompts, { maxNewTokens: 9, temperature: 0 })
    const recomputed = await generateBatch(model, prompts, { maxNewTokens: 9, temperature: 0, useCache: false })
    expect(batch.map((r) => r.ids)).toEqual(alone.map((r) => r.ids))
    expect(recomputed.map((r) => r.ids)).toEqual(alone.map((r) => r.ids))
    batch.forEach((r, b) => r.modelLogprobs.forEach((lp, t) => expect(lp).toBeCloseTo(alone[b].modelLogprobs[t], 4)))
  })

  it('batched sampling: row b is the prompt alone with seed + b, also with top-k / top-p and row budgets', async () => {
    for (const sampling of [{ temperature: 1.3 }, { temperature: 0.9, topK: 5 }, { temperature: 1, topP: 0.8 }]) {
      const budgets = [6, 10, 3, 8]
      const batch = await generateBatch(model, prompts, { ...sampling, maxNewTokens: budgets, seed: 40 })
      for (let b = 0; b < prompts.length; b++) {
        const alone = await generate(model, prompts[b], { ...sampling, maxNewTokens: budgets[b], seed: 40 + b })
        expect(batch[b].ids).toEqual(alone.ids)
        expect(batch[b].stoppedBy).toBe('length')
        expect(batch[b].ids).toHaveLength(budgets[b])
      }
    }
  })

  it('batched sampling with one seed per row: row b is the prompt alone with seeds[b]', async () => {
    const seeds = [901, 17, 5, 33]
    const batch = await generateBatch(model, prompts, { temperature: 1.2, maxNewTokens: 8, seeds })
    for (let b = 0; b < prompts.length; b++) {
      const alone = await generate(model, prompts[b], { temperature: 1.2, maxNewTokens: 8, seed: seeds[b] })
      expect(batch[b].ids).toEqual(alone.ids)
    }
  })

  it('logprobs are log softmax(logits / temperature) of the sampled tokens, recomputed without a cache', async () => {
    const temperature = 0.7
    const [row] = await generateBatch(model, [[3, 4]], { maxNewTokens: 5, temperature, seed: 3 })
    const sequence = [3, 4, ...row.ids]
    const logits = tf.tidy(() => model.logits(tf.tensor2d([sequence], [1, sequence.length], 'int32')).arraySync()[0])
    row.ids.forEach((id, t) => {
      const at = logits[t + 1] // predicts sequence[t + 2] = ids[t]
      expect(row.logprobs[t]).toBeCloseTo(logSoftmaxAt(at, id, temperature), 4)
      expect(row.modelLogprobs[t]).toBeCloseTo(logSoftmaxAt(at, id, 1), 4)
    })
    // Greedy: both are the temperature-1 values.
    const [greedy] = await generateBatch(model, [[3, 4]], { maxNewTokens: 3, temperature: 0 })
    expect(greedy.logprobs).toEqual(greedy.modelLogprobs)
  })

  it('a row that stops early is dropped and the others go on as alone; the tensor count is unchanged', async () => {
    const alone = await Promise.all(prompts.map((p) => generate(model, p, { maxNewTokens: 8, temperature: 0 })))
    const stopId = alone[1].ids[1] // row 1 stops at its second token; others may stop on it too
    const before = tf.memory().numTensors
    const streamed: [number, number][] = []
    const batch = await generateBatch(model, prompts, { maxNewTokens: 8, temperature: 0, stopIds: [stopId], onToken: (row, id) => streamed.push([row, id]) })
    expect(tf.memory().numTensors).toBe(before)
    for (let b = 0; b < prompts.length; b++) {
      const cut = alone[b].ids.indexOf(stopId)
      expect(batch[b].ids).toEqual(cut < 0 ? alone[b].ids : alone[b].ids.slice(0, cut))
      expect(batch[b].stoppedBy).toBe(cut < 0 ? 'length' : 'stop')
      expect(streamed.filter(([row]) => row === b).map(([, id]) => id)).toEqual(batch[b].ids)
    }
    // The test means something only if a row was dropped while another went on.
    expect(batch[1].stoppedBy).toBe('stop')
    expect(batch.some((r) => r.stoppedBy === 'length')).toBe(true)
  })

  it('rows of different lengths each run to max_seq_len', async () => {
    const batch = await generateBatch(model, [[1, 2, 3, 4], [6], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], { maxNewTokens: 100, temperature: 0 })
    expect(batch.map((r) => r.ids.length)).toEqual([28, 31, 22])
    const alone = await generate(model, [6], { maxNewTokens: 100, temperature: 0 })
    expect(batch[1].ids).toEqual(alone.ids)
  })

  it('an abort ends every live row', async () => {
    const controller = new AbortController()
    const batch = await generateBatch(model, prompts, { maxNewTokens: 20, temperature: 0, signal: controller.signal, onToken: (row) => { if (row === 3) controller.abort() } })
    expect(batch.map((r) => r.stoppedBy)).toEqual(['abort', 'abort', 'abort', 'abort'])
    expect(batch.map((r) => r.ids.length)).toEqual([1, 1, 1, 1])
    await expect(generateBatch(model, [[1], []], { maxNewTokens: 1 })).rejects.toThrow('row 1')
    await expect(generateBatch(model, [[1], [2]], { maxNewTokens: [1] })).rejects.toThrow('maxNewTokens')
  })

  it('ends at max_seq_len and on abort', async () => {
    const long = await generate(model, [1, 2, 3, 4], { maxNewTokens: 100, temperature: 0 })
    expect(long.ids).toHaveLength(28)
    expect(long.stoppedBy).toBe('length')
    const controller = new AbortController()
    const aborted = await generate(model, [1], { maxNewTokens: 20, onToken: (_id) => { if (_id >= 0) controller.abort() }, signal: controller.signal })
    expect(aborted.stoppedBy).toBe('abort')
    expect(aborted.ids).toHaveLength(1)
    await expect(generate(model, [], { maxNewTokens: 1 })).rejects.toThrow('prompt is empty')
  })
})
