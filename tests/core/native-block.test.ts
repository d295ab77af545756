// The whole transformer block as one native op each way (core/model/kernels/block.ts over
// native/fastgemm blockForward / blockBackward) against the model's per-kernel path: the same
// kernels in the same order, so the loss and every gradient must be BITWISE the same, at 1 and 2
// native threads, on both backends the addon serves; and the training forward uses it only where
// it applies. Needs the addon (tests/references.ts).
import { describe, it, expect, beforeAll, afterEach } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'
import { nativeBlockActive } from '../../core/backend/kernels/nativeOps'
import { fusedBlockActive, transformerBlockFused } from '../../core/model/kernels/block'
import { Llama } from '../../core/model/llama'
import { LoraAdapters, type LoraSettings } from '../../core/model/lora'
import { freezeTrunk } from '../../core/train/stages/finetuning'
import { normalArray } from '../../core/util/random'
import { KVCache } from '../../core/model/kvcache'
import type { LlamaConfig } from '../../core/model/config'
import { mulberry32 } from '../../core/util/random'
import { describeWith } from '../references'

/** Loss and gradients (by Hugging Face name) of a model on one batch of random tokens. */
function modelStep(config: Partial<LlamaConfig>, batch: number, seq: number, seed: number) {
  const model = Llama.create({ vocab_size: 64, max_seq_len: 64, ...config } as LlamaConfig, seed)
  const rand = mulberry32(seed)
  const ids = Array.from({ length: batch * (seq + 1) }, () => Math.floor(rand() * 64))
  const tokens = tf.tensor2d(ids.filter((_, i) => i % (seq + 1) !== seq), [batch, seq], 'int32')
  const targets = tf.tensor2d(ids.filter((_, i) => i % (seq + 1) !== 0), [batch, seq], 'int32')
  const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets))
  const byName = Object.entries(model.weights).map(([name, w]) => [name, Array.from(grads[w.name].dataSync())])
  const out = { loss: value.dataSync()[0], grads: Object.fromEntries(byName) as Record<string, number[]> }
  tf.dispose([value, tokens, targets, ...Object.values(grads)])
  model.dispose()
  return out
}

/** The kernels a model's loss and gradients run, one entry per call. */
async function kernelsOf(config: Partial<LlamaConfig>): Promise<string[]> {
  const model = Llama.create({ vocab_size: 64, max_seq_len: 64, ...config } as LlamaConfig, 1)
  const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]], [2, 6], 'int32')
  const info = await tf.profile(() => {
    const { value, grads } = tf.variableGrads(() => model.loss(tokens, tokens))
    tf.dispose([value, ...Object.values(grads)])
  })
  tf.dispose(tokens)
  model.dispose()
  return info.kernels.map((k) => k.name)
}

const GQA = { dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2 }

describeWith('native-matmul', 'one native op per transformer block', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeBlockActive()).toBe(true)
  })
  afterEach(() => {
    delete process.env.WORKBENCH_FUSED_BLOCK
  })

  it.each([
    { name: 'grouped-query heads', config: GQA, batch: 3, seq: 20 },
    { name: 'as many kv heads as heads, hd 24, a hidden size not a multiple of 16', config: { dim: 48, n_layers: 1, n_heads: 2, n_kv_heads: 2, multiple_of: 8 }, batch: 2, seq: 33 },
    { name: 'one row of one token', config: GQA, batch: 1, seq: 1 },
  ])('gives bitwise the loss and gradients of the per-kernel path ($name)', ({ config, batch, seq }) => {
    process.env.WORKBENCH_FUSED_BLOCK = '0'
    expect(fusedBlockActive()).toBe(false)
    const perKernel = modelStep(config, batch, seq, 5)
    delete process.env.WORKBENCH_FUSED_BLOCK
    const fused = modelStep(config, batch, seq, 5)
    expect(fused.loss).toBe(perKernel.loss)
    for (const [name, g] of Object.entries(perKernel.grads)) expect(fused.grads[name], name).toEqual(g)
  })

  it('gives bitwise the same loss and gradients at 1 and 2 native threads', () => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    try {
      gemm.setThreads(1)
      const one = modelStep({ dim: 64, n_layers: 1, n_heads: 4, n_kv_heads: 2 }, 4, 64, 9)
      gemm.setThreads(2)
      const two = modelStep({ dim: 64, n_layers: 1, n_heads: 4, n_kv_heads: 2 }, 4, 64, 9)
      expect(two.loss).toBe(one.loss)
      for (const [name, g] of Object.entries(one.grads)) expect(two.grads[name], name).toEqual(g)
    } finally {
      gemm.setThreads(before)
    }
  })

  it('is what a training step runs, one kernel per block each way, and can be turned off', async () => {
    const names = await kernelsOf(GQA)
    expect(names.filter((n) => n === 'WorkbenchBlock')).toHaveLength(2)
    expect(names.filter((n) => n === 'WorkbenchBlockGrad')).toHaveLength(2)
    expect(names).not.toContain('WorkbenchAttention')
    process.env.WORKBENCH_FUSED_BLOCK = '0'
    const perKernel = await kernelsOf(GQA)
    expect(perKernel).not.toContain('WorkbenchBlock')
    expect(perKernel).toContain('WorkbenchAttention')
  })

  // LoRA without dropout: the block runs on merged weights W + s B A, whose gradient reaches A and
  // B through the merge; with dropout (a mask per row) it keeps the per-kernel path.
  it.each([
    { name: 'q and v adapted (PEFT\'s default), training', targets: ['q', 'v'], recompute: true },
    { name: 'every projection adapted, training', targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], recompute: true },
    { name: 'every projection adapted, without recomputation (PPO\'s update)', targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'], recompute: false },
  ] as const)('LoRA: $name: the adapters\' gradients and the loss are the per-kernel path\'s, one block op per layer', async ({ targets, recompute }) => {
    const lora: LoraSettings = { rank: 4, alpha: 8, dropout: 0, targets: [...targets] }
    const run = () => {
      const model = Llama.create({ vocab_size: 64, max_seq_len: 64, ...GQA } as LlamaConfig, 3)
      model.adapters = LoraAdapters.create(model.config, lora, 5)
      const rand = mulberry32(7) // a nonzero B, or A's gradient would be zero whatever the path
      for (const { B } of model.adapters.pairs.values()) B.assign(tf.tensor(normalArray(B.size, 0.3, rand), B.shape))
      freezeTrunk(model)
      model.adapters.training = recompute // training over a frozen trunk recomputes each layer
      const vars = Object.values(model.adapters.variables())
      const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4, 3, 2, 1]], [2, 9], 'int32')
      let result!: { loss: number; grads: number[][] }
      const info = tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => model.loss(tokens, tokens), vars)
        result = { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name].dataSync())) }
        tf.dispose([value, ...Object.values(grads)])
      })
      tf.dispose(tokens)
      model.dispose()
      return info.then((i) => ({ ...result, kernels: i.kernelNames }))
    }
    const fused = await run()
    expect(fused.kernels).toContain('WorkbenchBlockGrad')
    process.env.WORKBENCH_FUSED_BLOCK = '0'
    const perKernel = await run()
    expect(perKernel.kernels).not.toContain('WorkbenchBlock')
    expect(Math.abs(fused.loss - perKernel.loss)).toBeLessThan(1e-5 * Math.abs(perKernel.loss))
    fused.grads.forEach((g, i) => {
      const scale = Math.max(...perKernel.grads[i].map(Math.abs))
      expect(scale, `adapter tensor ${i}`).toBeGreaterThan(0)
      expect(Math.max(...g.map((x, j) => Math.abs(x - perKernel.grads[i][j]))), `adapter tensor ${i}`).toBeLessThan(1e-4 * scale)
    })
  })

  it('LoRA with dropout while training keeps the per-kernel path (each row has its own mask)', async () => {
    const model = Llama.create({ vocab_size: 64, max_seq_len: 64, ...GQA } as LlamaConfig, 3)
    model.adapters = LoraAdapters.create(model.config, { rank: 4, alpha: 8, dropout: 0.1, targets: ['q', 'v'] }, 5)
    freezeTrunk(model)
    const tokens = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32')
    const names = async () => (await tf.profile(() => model.logits(tokens))).kernelNames
    expect(await names()).toContain('WorkbenchBlock') // not training: no dropout, merged weights
    model.adapters.training = true
    expect(await names()).not.toContain('WorkbenchBlock')
    tf.dispose(tokens)
    model.dispose()
  })

  it('leaves generation with a KV cache to the per-kernel path', async () => {
    const model = Llama.create({ vocab_size: 64, max_seq_len: 32, ...GQA } as LlamaConfig, 1)
    const tokens = tf.tensor2d([[1, 2, 3, 4]], [1, 4], 'int32')
    const cache = new KVCache(model.config, 1, undefined, 16)
    const info = await tf.profile(() => model.logits(tokens, cache))
    expect(info.kernelNames).not.toContain('WorkbenchBlock')
    cache.dispose()
    tf.dispose(tokens)
    model.dispose()
  })

  it('refuses inputs that do not fit the block, naming the one that is off', () => {
    const x = tf.zeros([6, 8]) as tf.Tensor2D
    const params = {
      normIn: tf.ones([8]) as tf.Tensor1D, wq: tf.zeros([8, 8]) as tf.Tensor2D, wk: tf.zeros([4, 8]) as tf.Tensor2D, wv: tf.zeros([4, 8]) as tf.Tensor2D,
      wo: tf.zeros([8, 8]) as tf.Tensor2D, normPost: tf.ones([8]) as tf.Tensor1D, w1: tf.zeros([16, 8]) as tf.Tensor2D, w3: tf.zeros([16, 8]) as tf.Tensor2D, w2: tf.zeros([8, 12]) as tf.Tensor2D,
    }
    const cos = tf.ones([1, 3, 1, 4]) as tf.Tensor4D
    expect(() => transformerBlockFused(x, params, cos, cos, { seq: 3, heads: 2, kvHeads: 1, eps: 1e-5 })).toThrow(/WorkbenchBlock.*w2 is not \[8,16\]/)
    tf.dispose([x, cos, ...Object.values(params)])
  })

  it('has the addon check its arguments too: their count, the dims, and every array against the dims', () => {
    const addon = loadFastGemm() as unknown as Record<string, (...args: unknown[]) => unknown>
    const dims = [1, 2, 8, 2, 1, 4, 16, 1, 1e-5] // batch, seq, dim, heads, kvHeads, hd, hidden, tables, eps
    expect(() => addon.blockForward(new Float32Array(1))).toThrow(/blockForward expects 24 arguments/)
    expect(() => addon.blockBackward()).toThrow(/blockBackward expects 34 arguments/)
    const short = Array.from({ length: 15 }, () => new Float32Array(1))
    expect(() => addon.blockForward(...short, ...dims)).toThrow(/shorter than the block's dims/)
    expect(() => addon.blockForward(...short, 1, 2, 8, 3, 2, 4, 16, 1, 1e-5)).toThrow(/heads a multiple of kvHeads/)
    expect(addon.blockScratch(...dims, false)).toBe(2 * (8 + 4 + 8))
    // a, q, k, v, the probabilities [1, 2, 2, 2], o, h, m, g, u, s
    expect(addon.blockSaved(...dims)).toBe(2 * (8 + 8 + 4 + 4) + 8 + 2 * (8 + 8 + 8 + 16 * 3))
  })

  // LoRA's frozen trunk: a projection's gradient passed as an empty array is not computed, and
  // nothing else the backward gives changes by a bit.
  it('skips a frozen projection\'s weight gradient given as an empty array, and changes nothing else', () => {
    const addon = loadFastGemm() as unknown as Record<string, (...args: unknown[]) => unknown>
    const [batch, seq, dim, heads, kvHeads, hd, hidden] = [2, 5, 8, 2, 1, 4, 16]
    const dims = [batch, seq, dim, heads, kvHeads, hd, hidden, 1, 1e-5]
    const n = batch * seq
    const rand = mulberry32(21)
    const random = (length: number) => Float32Array.from({ length }, () => rand() - 0.5)
    // x, normIn, wq, wk, wv, wo, normPost, w1, w3, w2, cos, sin
    const lengths = [n * dim, dim, heads * hd * dim, kvHeads * hd * dim, kvHeads * hd * dim, dim * heads * hd, dim, hidden * dim, hidden * dim, dim * hidden, seq * hd, seq * hd]
    const inputs = lengths.map(random)
    const saved = new Float32Array(addon.blockSaved(...dims) as number)
    addon.blockForward(...inputs, saved, new Float32Array(n * dim), new Float32Array(addon.blockScratch(...dims, false) as number), ...dims)
    const dy = random(n * dim)
    const backward = (skip: Set<number>) => {
      const grads = lengths.slice(1, 10).map((length, i) => new Float32Array(skip.has(i) ? 0 : length))
      const dx = new Float32Array(n * dim)
      addon.blockBackward(...inputs, saved, dy, dx, ...grads, new Float32Array(addon.blockScratch(...dims, true) as number), ...dims)
      return [dx, ...grads].map((a) => Array.from(a))
    }
    const all = backward(new Set())
    // The 9 parameters: normIn, wq, wk, wv, wo, normPost, w1, w3, w2. Skipped: wk, w1 (gate), w2 (down).
    const skipped = new Set([2, 6, 8])
    const some = backward(skipped)
    all.forEach((values, i) => {
      if (i > 0 && skipped.has(i - 1)) expect(some[i], `gradient ${i - 1} skipped`).toEqual([])
      else expect(some[i], i === 0 ? 'dx' : `gradient ${i - 1}`).toEqual(values)
    })
    expect(all[3].some((v) => v !== 0)).toBe(true) // dWk is a real gradient when asked for
    // An RMSNorm's gradient is always computed: an empty one is too short.
    expect(() => backward(new Set([5]))).toThrow(/shorter than the block's dims/)
  })
}))
