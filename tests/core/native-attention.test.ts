// The fused causal self-attention (core/model/kernels/causalAttention.ts over native/fastgemm)
// against the model's tfjs formulation (llama.ts groupedAttention: head transposes, attention()
// with causalMask): the output and the gradients for q, k and v over shapes that are multiples of
// nothing, grouped-query heads included; bitwise the same at 1 and 2 native threads; and the model's
// loss and gradients with and without it. Needs the addon (tests/references.ts).
import { spawnSync } from 'node:child_process'
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'
import { nativeAttentionActive } from '../../core/backend/kernels/nativeOps'
import { causalAttentionFused, decodeAttentionFused, fusedAttentionActive, fusedDecodeAttentionActive } from '../../core/model/kernels/causalAttention'
import { generateBatch } from '../../core/model/generate'
import { causalMask, groupedAttention, Llama } from '../../core/model/llama'
import { KVCache } from '../../core/model/kvcache'
import { mulberry32 } from '../../core/util/random'
import { describeWith } from '../references'
import { relativeError } from '../numerics'

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed)
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale)
}

interface Case {
  batch: number
  seq: number
  heads: number
  kvHeads: number
  hd: number
}

type Attend = (q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, c: Case) => tf.Tensor2D

const fused: Attend = (q, k, v, c) => causalAttentionFused(q, k, v, { seq: c.seq, heads: c.heads, kvHeads: c.kvHeads })

/** The model's tfjs path for a sequence without cache or padding: the causal mask of llama.ts. */
const reference: Attend = (q, k, v, c) => tf.tidy(() => {
  const mask = causalMask(c.seq, c.seq, 0, 0, c.heads / c.kvHeads) // [rep*T, T]
  return groupedAttention(q, k, v, { batch: c.batch, seq: c.seq, nHeads: c.heads, nKv: c.kvHeads, hd: c.hd }, mask, false)
})

/** Output, and the gradients of sum(out * r) for q, k, v (r fixed random), of random q, k, v (scores spread to +-several). */
function valueAndGrads(attend: Attend, c: Case, seed: number) {
  return tf.tidy(() => {
    const rows = c.batch * c.seq
    const q = tf.tensor2d(randomArray(rows * c.heads * c.hd, seed, 3), [rows, c.heads * c.hd])
    const k = tf.tensor2d(randomArray(rows * c.kvHeads * c.hd, seed + 1, 3), [rows, c.kvHeads * c.hd])
    const v = tf.tensor2d(randomArray(rows * c.kvHeads * c.hd, seed + 2, 2), [rows, c.kvHeads * c.hd])
    const r = tf.tensor2d(randomArray(rows * c.heads * c.hd, seed + 3), [rows, c.heads * c.hd])
    const value = attend(q, k, v, c)
    expect(value.shape).toEqual([rows, c.heads * c.hd])
    const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(attend(a as tf.Tensor2D, b as tf.Tensor2D, d as tf.Tensor2D, c), r)))([q, k, v])
    const [dq, dk, dv] = grads.map((g) => g.dataSync() as Float32Array)
    return { value: value.dataSync() as Float32Array, dq, dk, dv }
  })
}

const KEYS = ['value', 'dq', 'dk', 'dv'] as const

/** Every shape the issue names: T 1, 7, 64, 130 x kv heads 4, 2, 1 (of 4) x hd 16, 32, with the batch cycling through 1..3. */
const CASES: Case[] = [1, 7, 64, 130].flatMap((seq) => [4, 2, 1].flatMap((kvHeads) => [16, 32].map((hd) => ({ seq, kvHeads, hd, heads: 4 }))))
  .map((c, i) => ({ ...c, batch: (i % 3) + 1 }))

describeWith('native-matmul', 'fused native causal attention', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeAttentionActive()).toBe(true)
  })
  afterEach(() => {
    delete process.env.WORKBENCH_FUSED_ATTENTION
  })

  it.each(CASES)('matches the tfjs formulation in output and the q, k, v gradients (B=$batch, T=$seq, H=$heads, Hkv=$kvHeads, hd=$hd)', (c) => {
    const ours = valueAndGrads(fused, c, c.seq + c.hd + c.kvHeads)
    const theirs = valueAndGrads(reference, c, c.seq + c.hd + c.kvHeads)
    for (const key of KEYS) expect(relativeError(ours[key], theirs[key]), key).toBeLessThan(1e-5)
  })

  it.each([
    { batch: 2, seq: 19, heads: 4, kvHeads: 2, hd: 8 },
    { batch: 1, seq: 33, heads: 6, kvHeads: 3, hd: 24 },
    { batch: 1, seq: 300, heads: 2, kvHeads: 1, hd: 48 },
  ])('matches it where hd is not a multiple of 16 or T is longer (B=$batch, T=$seq, H=$heads, Hkv=$kvHeads, hd=$hd)', (c) => {
    const ours = valueAndGrads(fused, c, 11)
    const theirs = valueAndGrads(reference, c, 11)
    for (const key of KEYS) expect(relativeError(ours[key], theirs[key]), key).toBeLessThan(1e-5)
  })

  it.each([
    { batch: 3, seq: 130, heads: 4, kvHeads: 2, hd: 32 },
    { batch: 1, seq: 64, heads: 4, kvHeads: 1, hd: 16 }, // one job backward: the thread count changes nothing
    { batch: 2, seq: 7, heads: 4, kvHeads: 4, hd: 16 },
  ])('gives bitwise the same output and gradients at 1 and 2 native threads (B=$batch, T=$seq, Hkv=$kvHeads, hd=$hd)', (c) => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    try {
      gemm.setThreads(1)
      const one = valueAndGrads(fused, c, 3)
      gemm.setThreads(2)
      const two = valueAndGrads(fused, c, 3)
      for (const key of KEYS) expect(Array.from(two[key]), key).toEqual(Array.from(one[key]))
    } finally {
      gemm.setThreads(before)
    }
  })

  it('refuses shapes that do not fit, naming them', () => {
    const q = tf.zeros([6, 8]) as tf.Tensor2D
    const k = tf.zeros([6, 3]) as tf.Tensor2D
    expect(() => causalAttentionFused(q, k, k, { seq: 3, heads: 2, kvHeads: 1 })).toThrow(/WorkbenchAttention.*k \[6,3\]/)
    expect(() => causalAttentionFused(q, q, q, { seq: 4, heads: 2, kvHeads: 2 })).toThrow(/T = 4/)
    tf.dispose([q, k])
  })

  /** Loss and gradients of a tiny model (GQA 4/2) on one batch. */
  function modelStep(seed: number) {
    const model = Llama.create({ vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }, seed)
    const rand = mulberry32(seed)
    const ids = Array.from({ length: 3 * 21 }, () => Math.floor(rand() * 64))
    const tokens = tf.tensor2d(ids.filter((_, i) => i % 21 !== 20), [3, 20], 'int32')
    const targets = tf.tensor2d(ids.filter((_, i) => i % 21 !== 0), [3, 20], 'int32')
    const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets))
    // By Hugging Face name: tfjs names variables by a global counter, different for each model.
    const byName = Object.entries(model.weights).map(([name, w]) => [name, grads[w.name].dataSync() as Float32Array])
    const out = { loss: value.dataSync()[0], grads: Object.fromEntries(byName) as Record<string, Float32Array> }
    tf.dispose([value, tokens, targets, ...Object.values(grads)])
    model.dispose()
    return out
  }

  it('gives the model the same loss and gradients as the tfjs path, and is what its training forward uses', async () => {
    process.env.WORKBENCH_FUSED_ATTENTION = '0'
    expect(fusedAttentionActive()).toBe(false)
    const without = modelStep(7)
    delete process.env.WORKBENCH_FUSED_ATTENTION
    expect(fusedAttentionActive()).toBe(true)
    const withFused = modelStep(7)
    expect(Math.abs(withFused.loss - without.loss)).toBeLessThan(1e-6 * Math.abs(without.loss))
    for (const [name, g] of Object.entries(without.grads)) expect(relativeError(withFused.grads[name], g), name).toBeLessThan(1e-5)

    const model = Llama.create({ vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }, 1)
    const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], [2, 6], 'int32')
    const names = async (f: () => tf.TensorContainer) => (await tf.profile(f)).kernelNames
    // On its own, or inside the whole-block op (kernels/block.ts), which needs it.
    expect(await names(() => model.logits(tokens))).toContain('WorkbenchBlock')
    process.env.WORKBENCH_FUSED_BLOCK = '0'
    expect(await names(() => model.logits(tokens))).toContain('WorkbenchAttention')
    delete process.env.WORKBENCH_FUSED_BLOCK
    process.env.WORKBENCH_FUSED_ATTENTION = '0'
    expect(await names(() => model.logits(tokens))).not.toContain('WorkbenchAttention')
    expect(await names(() => model.logits(tokens))).not.toContain('WorkbenchBlock')
    delete process.env.WORKBENCH_FUSED_ATTENTION
    // The fused kernels mask by construction, so no causal mask is built for a forward they take
    // (made in JavaScript, it had cost ~40 ms a step at sequence 1,024); the tfjs path gets one.
    const maskShape = () => {
      let shape = 'none'
      tf.tidy(() => {
        const pos = (model as unknown as { positions(batch: number, seq: number, start: number): { mask: tf.Tensor | null } }).positions(2, 6, 0)
        if (pos.mask) shape = pos.mask.shape.join('x')
      })
      return shape
    }
    expect(maskShape()).toBe('none')
    process.env.WORKBENCH_FUSED_ATTENTION = '0'
    expect(maskShape()).toBe('12x6') // [rep*T, T]
    delete process.env.WORKBENCH_FUSED_ATTENTION
    // A KV cache (generation) and a padded batch keep the tfjs path.
    const cache = new KVCache(model.config, 2, undefined, 16)
    expect(await names(() => model.logits(tokens, cache))).not.toContain('WorkbenchAttention')
    cache.dispose()
    tf.dispose(tokens)
    model.dispose()
  })
}))

describeWith('native-matmul', 'fused native decoding attention', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(fusedDecodeAttentionActive()).toBe(true)
  })

  interface DecodeCase { batch: number; heads: number; kvHeads: number; hd: number; capacity: number; last: number; padding: number[] }

  /** Row b, head h: softmax over columns padding[b]..last of q . k / sqrt(hd), times v, in double. */
  function expected(q: Float32Array, kc: Float32Array, vc: Float32Array, c: DecodeCase): Float32Array {
    const out = new Float32Array(c.batch * c.heads * c.hd)
    for (let b = 0; b < c.batch; b++) {
      for (let h = 0; h < c.heads; h++) {
        const base = (b * c.kvHeads + Math.floor(h / (c.heads / c.kvHeads))) * c.capacity
        const scores: number[] = []
        for (let j = c.padding[b]; j <= c.last; j++) {
          let dot = 0
          for (let d = 0; d < c.hd; d++) dot += q[(b * c.heads + h) * c.hd + d] * kc[(base + j) * c.hd + d]
          scores.push(dot / Math.sqrt(c.hd))
        }
        const max = Math.max(...scores)
        const weights = scores.map((x) => Math.exp(x - max))
        const sum = weights.reduce((a, x) => a + x, 0)
        for (let d = 0; d < c.hd; d++) {
          out[(b * c.heads + h) * c.hd + d] = weights.reduce((a, w, i) => a + (w / sum) * vc[(base + c.padding[b] + i) * c.hd + d], 0)
        }
      }
    }
    return out
  }

  function decode(c: DecodeCase, seed: number): { got: Float32Array; want: Float32Array } {
    const q = randomArray(c.batch * c.heads * c.hd, seed, 3)
    const kc = randomArray(c.batch * c.kvHeads * c.capacity * c.hd, seed + 1, 3)
    const vc = randomArray(c.batch * c.kvHeads * c.capacity * c.hd, seed + 2, 2)
    const got = tf.tidy(() => decodeAttentionFused(tf.tensor2d(q, [c.batch, c.heads * c.hd]), tf.tensor4d(kc, [c.batch, c.kvHeads, c.capacity, c.hd]),
      tf.tensor4d(vc, [c.batch, c.kvHeads, c.capacity, c.hd]), { seq: 1, heads: c.heads, kvHeads: c.kvHeads, last: c.last, padding: c.padding }).dataSync() as Float32Array)
    return { got, want: expected(q, kc, vc, c) }
  }

  it.each([
    { batch: 1, heads: 4, kvHeads: 4, hd: 16, capacity: 9, last: 0, padding: [0] },
    { batch: 3, heads: 4, kvHeads: 2, hd: 24, capacity: 20, last: 12, padding: [0, 3, 12] },
    { batch: 2, heads: 4, kvHeads: 1, hd: 32, capacity: 300, last: 257, padding: [5, 0] },
    { batch: 2, heads: 6, kvHeads: 3, hd: 48, capacity: 64, last: 63, padding: [0, 0] },
  ])('matches softmax(q k^T / sqrt(hd)) v over each row\'s columns (B=$batch, H=$heads, Hkv=$kvHeads, hd=$hd, last=$last, padding=$padding)', (c) => {
    const { got, want } = decode(c, 90 + c.hd)
    expect(relativeError(got, want)).toBeLessThan(2e-6)
  })

  it('gives bitwise the same result at 1 and 2 native threads, and names a padding past the last column', () => {
    const c = { batch: 4, heads: 4, kvHeads: 2, hd: 32, capacity: 200, last: 150, padding: [0, 7, 30, 150] }
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    gemm.setThreads(1)
    const one = decode(c, 5).got
    gemm.setThreads(2)
    const two = decode(c, 5).got
    gemm.setThreads(before)
    expect(Array.from(two)).toEqual(Array.from(one))
    expect(() => decode({ ...c, padding: [0, 0, 0, 151] }, 5)).toThrow(/WorkbenchDecodeAttention: .*padding per row at most 150/)
  })

  it('is what generation uses against a preallocated cache, with the tfjs path\'s tokens and log-probabilities', async () => {
    const model = Llama.create({ vocab_size: 64, dim: 48, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 64 }, 3)
    const prompts = [[1, 2, 3, 4, 5, 6, 7], [9, 8], [4, 4, 4, 4]] // left-padded into one cache
    const run = () => generateBatch(model, prompts, { maxNewTokens: 12, temperature: 0.8, seed: 11 })
    process.env.WORKBENCH_FUSED_ATTENTION = '0'
    const tfjs = await run()
    delete process.env.WORKBENCH_FUSED_ATTENTION
    const fusedRows = await run()
    fusedRows.forEach((row, b) => {
      expect(row.ids, `row ${b}`).toEqual(tfjs[b].ids)
      expect(relativeError(Float32Array.from(row.logprobs), Float32Array.from(tfjs[b].logprobs)), `row ${b} logprobs`).toBeLessThan(1e-5)
    })
    const cache = new KVCache(model.config, 1, undefined, 16)
    const step = async (token: number) => (await tf.profile(() => model.logits(tf.tensor2d([[token]], [1, 1], 'int32'), cache))).kernelNames
    const first = await step(1)
    cache.advance(1)
    expect(first).toContain('WorkbenchDecodeAttention')
    cache.dispose()
    model.dispose()
  })
}))

interface Fallback { active: boolean; used: boolean; decodeUsed: boolean; decoded: number[][] }

describe('fused attention fallback', () => {
  /** In a fresh process on wasm with `env`: whether the fused attention is active, whether a training step's and greedy generation's kernels include it, and the generated ids. */
  function inChild(env: Record<string, string>): Fallback {
    const code = `
      const { initBackend } = await import('./core/backend/index.ts')
      const { tf } = await import('./core/backend/tf.ts')
      const { Llama } = await import('./core/model/llama.ts')
      const { fusedAttentionActive } = await import('./core/model/kernels/causalAttention.ts')
      await initBackend('wasm')
      const model = Llama.create({ vocab_size: 16, dim: 16, n_layers: 1, n_heads: 2, max_seq_len: 8 }, 0)
      const { generateBatch } = await import('./core/model/generate.ts')
      const tokens = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32')
      // Read each profile before the next: tfjs reuses the profile's object.
      // The fused attention runs alone, or inside the fused block (kernels/block.ts).
      const trainKernels = (await tf.profile(() => tf.variableGrads(() => model.loss(tokens, tokens)).value)).kernelNames
      const used = trainKernels.includes('WorkbenchAttention') || trainKernels.includes('WorkbenchBlock')
      let decoded = false
      const decodeUsed = (await tf.profile(async () => { decoded = (await generateBatch(model, [[1, 2, 3], [5]], { maxNewTokens: 4, temperature: 0 })).map((r) => r.ids) })).kernelNames.includes('WorkbenchDecodeAttention')
      console.log(JSON.stringify({ active: fusedAttentionActive(), used, decodeUsed, decoded }))`
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', env: { ...process.env, ...env } })
    expect(run.status, run.stderr).toBe(0)
    return JSON.parse(run.stdout.trim().split('\n').pop()!) as Fallback
  }

  // Without the addon or the fused ops, decoding takes the one-matmul rotary query/key path
  // (llama.ts ropedQueryKeyOneToken) and the tfjs attention; with them, the RoPE kernel and the
  // decoding kernel. Every path generates the same greedy ids.
  it('leaves training and decoding on the tfjs path without the addon, with the fused kernels off, or switched off alone, with the same generated ids', () => {
    const switches: Record<string, string>[] = [{ WORKBENCH_NATIVE_MATMUL: '0' }, { WORKBENCH_FUSED_OPS: '0' }, { WORKBENCH_FUSED_ATTENTION: '0' }]
    const runs = switches.map((env) => inChild(env))
    runs.forEach((r, i) => expect({ ...r, decoded: undefined }, JSON.stringify(switches[i])).toEqual({ active: false, used: false, decodeUsed: false, decoded: undefined }))
    // The same check sees the fused kernels where the addon is built.
    if (loadFastGemm()) {
      const fused = inChild({})
      expect({ ...fused, decoded: undefined }).toEqual({ active: true, used: true, decodeUsed: true, decoded: undefined })
      runs.push(fused)
    }
    for (const r of runs) expect(r.decoded).toEqual(runs[0].decoded)
    expect(runs[0].decoded.map((ids) => ids.length)).toEqual([4, 4])
  })
})
