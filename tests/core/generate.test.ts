// Generation: greedy determinism, seeded sampling, stop tokens, top-k / top-p, abort, KV cache.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { generate, sampleFromLogits } from '../../core/model/generate'
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

  it('rejects bad options', () => {
    expect(() => sampleFromLogits(logits, { temperature: -1 }, Math.random)).toThrow('temperature')
    expect(() => sampleFromLogits(logits, { topP: 0 }, Math.random)).toThrow('topP')
    expect(() => sampleFromLogits(logits, { topK: 1.5 }, Math.random)).toThrow('topK')
  })
})

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
