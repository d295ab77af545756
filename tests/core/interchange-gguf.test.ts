// GGUF export, checked by the real consumer: llama.cpp (through node-llama-cpp, CPU only) loads
// the file, tokenises like we do, and its greedy tokens and next-token log-probabilities match
// our model's. In CI a missing or failing node-llama-cpp fails these tests.
import fs from 'node:fs'
import path from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { generate } from '../../core/model/generate'
import { loadModel } from '../../core/model/load'
import { writeExport } from '../../core/interchange/exportModel'
import { encodeGguf } from '../../core/interchange/gguf'
import { permuteForInterleavedRope, type GgufDtype } from '../../core/interchange/ggufLlama'
import { float32ToFloat16Bits, toQ8_0Bytes } from '../../core/interchange/quantize'
import { makeFixtureCheckpoint, type Fixture } from './interchange-fixture'

const PROMPTS = ['The king said', 'In 1987 there were', 'She sells sea', "It's a truth", 'Numbers like 3.14']
const NEW_TOKENS = 10
/**
 * Max |log p_ours - log p_llama.cpp| over tokens with p > 1e-4, per weight format. Measured on this
 * fixture: f32 6.1e-6, f16 1.3e-2, q8_0 0.36 (llama.cpp's Q8_0 matmul also rounds the activations
 * to 8 bits, and this untrained fixture has logits of several units).
 */
const TOLERANCE: Record<GgufDtype, number> = { f32: 1e-4, f16: 3e-2, q8_0: 0.5 }
/** Our top-two log-prob gap above which llama.cpp's greedy token must equal ours: twice the measured error. */
const DECISIVE_MARGIN: Record<GgufDtype, number> = { f32: 2e-4, f16: 3e-2, q8_0: 0.75 }
const TOKENIZE_STRINGS = [
  'The king said',
  'hello world, hello  world',
  'Numbers 3.14159 and 2718 and 42',
  "it's we'll they'd I'm",
  'tabs\tand\nnewlines\n\n end',
  'émigré naïve café',
  '日本語のテキスト',
  'emoji 🎉🦙 here',
  '  leading spaces',
  'trailing spaces   ',
  'x <|user|> y',
]

type NodeLlamaCpp = typeof import('node-llama-cpp')

describe('quantize', () => {
  it('rounds float32 to the nearest f16, ties to even', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00)
    expect(float32ToFloat16Bits(-2)).toBe(0xc000)
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff)
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00)
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00) // halfway: even mantissa stays
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02) // halfway: odd mantissa rounds up
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001) // smallest subnormal
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66)
  })

  it('packs Q8_0 blocks as an f16 scale and 32 int8 values', () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => (i - 16) / 4) // max |x| = 4
    const bytes = toQ8_0Bytes(values)
    expect(bytes.length).toBe(34)
    expect(bytes.readUInt16LE(0)).toBe(float32ToFloat16Bits(4 / 127))
    expect(bytes.readInt8(2)).toBe(-127)
    expect(bytes.readInt8(2 + 16)).toBe(0)
    expect(bytes.readInt8(2 + 18)).toBe(Math.round((0.5 * 127) / 4))
  })
})

describe('GGUF container', () => {
  it('writes header, metadata, tensor infos and aligned data', () => {
    const data = Buffer.alloc(12)
    const bytes = encodeGguf({ metadata: [['general.architecture', { type: 'string', value: 'llama' }]], tensors: [{ name: 't', shape: [3, 1], type: 0, data }] })
    expect(bytes.toString('ascii', 0, 4)).toBe('GGUF')
    expect(bytes.readUInt32LE(4)).toBe(3)
    expect(Number(bytes.readBigUInt64LE(8))).toBe(1)
    expect(Number(bytes.readBigUInt64LE(16))).toBe(1)
    expect(bytes.length % 32).toBe(0)
    // The tensor's dims are written innermost first: [1, 3].
    const infoAt = bytes.indexOf(Buffer.from([1, 0, 0, 0, 0, 0, 0, 0, 0x74]))
    expect(infoAt).toBeGreaterThan(0)
    const dims = infoAt + 9 + 4
    expect(Number(bytes.readBigUInt64LE(dims))).toBe(1)
    expect(Number(bytes.readBigUInt64LE(dims + 8))).toBe(3)
  })

  it('moves Q/K rows from the rotate_half layout to the interleaved one', () => {
    // One head of 4 rows, 1 column: rows [a0, a1, b0, b1] pair (a0, b0), (a1, b1) -> [a0, b0, a1, b1].
    expect([...permuteForInterleavedRope(Float32Array.from([10, 11, 20, 21]), 4, 1, 1)]).toEqual([10, 20, 11, 21])
  })
})

describe('GGUF export read by llama.cpp (node-llama-cpp)', () => {
  let llamaCpp: NodeLlamaCpp | undefined
  let llama: Awaited<ReturnType<NodeLlamaCpp['getLlama']>> | undefined
  let fixture: Fixture
  let unavailable = ''

  beforeAll(async () => {
    await initBackend('cpu')
    fixture = await makeFixtureCheckpoint()
    try {
      llamaCpp = await import('node-llama-cpp')
      llama = await llamaCpp.getLlama({ gpu: false, build: 'never', logLevel: llamaCpp.LlamaLogLevel.error })
    } catch (err) {
      unavailable = `node-llama-cpp could not start: ${(err as Error).message}`
      if (process.env.CI) throw new Error(unavailable)
    }
  })

  afterAll(async () => {
    await llama?.dispose()
    fs.rmSync(path.dirname(fixture.dir), { recursive: true, force: true })
  })

  async function compare(dtype: GgufDtype, fx: Fixture) {
    const out = path.join(path.dirname(fx.dir), `model-${dtype}.gguf`)
    await writeExport(fx.dir, { format: 'gguf', dtype, out })
    const model = await llama!.loadModel({ modelPath: out })
    // f32 keys and values and no flash attention (which rounds queries to f16 on the CPU): llama.cpp's
    // defaults alone move the log-probabilities by ~6e-3.
    const context = await model.createContext({ contextSize: 64, batchSize: 64, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32', flashAttention: false, threads: 1 })
    const sequence = context.getSequence()
    const ours = loadModel(fx.dir)
    let maxDiff = 0
    let steps = 0
    let decisive = 0
    try {
      for (const prompt of PROMPTS) {
        const promptIds = ours.tokenizer.encode(prompt, { bos: true })
        const expected = (await generate(ours.model, promptIds, { maxNewTokens: NEW_TOKENS, temperature: 0 })).ids
        // Our log-probabilities at every position of prompt + greedy answer.
        const all = [...promptIds, ...expected]
        const logProbs = tf.tidy(() => tf.logSoftmax(ours.model.logits(tf.tensor2d([all], [1, all.length], 'int32')), -1).arraySync() as number[][][])[0]
        // llama.cpp reads the same tokens (teacher forcing) and gives its next-token distribution
        // at every position after the prompt; its argmax is its greedy choice there.
        await sequence.clearHistory()
        const first = promptIds.length - 1
        const items = all.slice(0, -1).map((t, i) => (i >= first ? ([t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } } }] as const) : t))
        const results = await sequence.controlledEvaluate(items as Parameters<typeof sequence.controlledEvaluate>[0])
        for (let pos = first; pos < all.length - 1; pos++) {
          const probabilities = results[pos]!.next.probabilities!
          expect(probabilities.size).toBe(fx.config.vocab_size)
          const [llamaGreedy] = probabilities.entries().next().value as [number, number]
          const row = logProbs[pos]
          const sorted = [...row].sort((a, b) => b - a)
          const margin = sorted[0] - sorted[1]
          for (let id = 0; id < row.length; id++) {
            if (Math.exp(row[id]) < 1e-4) continue
            maxDiff = Math.max(maxDiff, Math.abs(Math.log(probabilities.get(id as never) ?? 0) - row[id]))
          }
          // Where our top two are closer than that, either choice is right.
          steps++
          if (margin <= DECISIVE_MARGIN[dtype]) continue
          decisive++
          expect(llamaGreedy, `greedy token after "${prompt}" + ${pos - first} tokens (${dtype})`).toBe(all[pos + 1])
        }
      }
    } finally {
      ours.model.dispose()
      await context.dispose()
      await model.dispose()
    }
    console.log(`GGUF ${dtype}${fx.config.tie_embeddings ? ' (tied)' : ''}: max |log p diff| ${maxDiff.toExponential(2)}, greedy agreed at all ${decisive} decisive steps of ${steps} (our top-two gap > ${DECISIVE_MARGIN[dtype]})`)
    // Enough decisive steps, or the greedy comparison would say little (q8_0 has the fewest: 21 of 50).
    expect(decisive).toBeGreaterThanOrEqual(20)
    expect(maxDiff).toBeLessThan(TOLERANCE[dtype])
  }

  for (const dtype of ['f32', 'f16', 'q8_0'] as const) {
    it(`agrees with our model in ${dtype}: greedy tokens and log-probabilities`, async (ctx) => {
      if (unavailable) return ctx.skip(unavailable)
      await compare(dtype, fixture)
    })
  }

  it('agrees with tied embeddings (no output.weight in the file)', async (ctx) => {
    if (unavailable) return ctx.skip(unavailable)
    const tied = await makeFixtureCheckpoint({ tie: true, seed: 11, tokenizer: fixture.tokenizer })
    try {
      await compare('f32', tied)
    } finally {
      fs.rmSync(path.dirname(tied.dir), { recursive: true, force: true })
    }
  })

  it("tokenises text into our ids (llama.cpp's starcoder pre-tokenizer)", async (ctx) => {
    if (unavailable) return ctx.skip(unavailable)
    const out = path.join(path.dirname(fixture.dir), 'tok.gguf')
    await writeExport(fixture.dir, { format: 'gguf', dtype: 'f32', out })
    const model = await llama!.loadModel({ modelPath: out, vocabOnly: true })
    try {
      for (const text of TOKENIZE_STRINGS) {
        expect([...model.tokenize(text, false)], JSON.stringify(text)).toEqual(fixture.tokenizer.encode(text))
      }
      expect(model.tokens.bos).toBe(fixture.tokenizer.special.bos)
      expect(model.tokens.eos).toBe(fixture.tokenizer.special.eos)
    } finally {
      await model.dispose()
    }
  })
})
