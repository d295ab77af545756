// LoRA adapters (core/model/lora.ts): a fresh adapter changes nothing, adapters off is the base,
// merged and unmerged weights give the same logits, decoding with a KV cache agrees with a full
// forward pass, and the init follows PEFT (A uniform in +-1/sqrt(in), B zero).
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { Llama } from '../../core/model/llama'
import { LoraAdapters, mergeAdapters, type LoraSettings } from '../../core/model/lora'
import { KVCache } from '../../core/model/kvcache'
import { frozenLinear } from '../../core/model/kernels/linear'
import { mulberry32, normalArray } from '../../core/util/random'
import { maxAbsDifference } from '../numerics'

const CFG = { vocab_size: 40, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 48, max_seq_len: 32 }

/** Adapters with B random too (a fresh B is zero, which would hide every mistake). */
export function randomAdapters(model: Llama, settings: LoraSettings, seed: number): LoraAdapters {
  const adapters = LoraAdapters.create(model.config, settings, seed)
  const rand = mulberry32(seed + 1)
  for (const { B } of adapters.pairs.values()) B.assign(tf.tensor(normalArray(B.size, 0.3, rand), B.shape))
  return adapters
}

describe('LoRA adapters', () => {
  beforeAll(async () => {
    await initBackend('cpu')
  })
  const tokens = () => tf.tensor2d([[1, 5, 9, 3, 7, 2, 11, 4], [6, 2, 8, 8, 1, 0, 3, 9]], [2, 8], 'int32')

  it('initialise as PEFT does: A uniform within 1/sqrt(in), B zero; a fresh adapter changes nothing', () => {
    const model = Llama.create(CFG, 3)
    const base = model.logits(tokens()).dataSync()
    model.adapters = LoraAdapters.create(model.config, { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'v', 'down'] }, 1)
    expect([...model.adapters.pairs.keys()]).toEqual([
      'model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.0.mlp.down_proj',
      'model.layers.1.self_attn.q_proj', 'model.layers.1.self_attn.v_proj', 'model.layers.1.mlp.down_proj',
    ])
    const down = model.adapters.pairs.get('model.layers.0.mlp.down_proj')!
    expect(down.A.shape).toEqual([4, 48])
    expect(down.B.shape).toEqual([32, 4])
    const a = down.A.dataSync()
    const bound = 1 / Math.sqrt(48)
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound)
    expect(Math.max(...a.map(Math.abs))).toBeGreaterThan(bound * 0.8)
    expect(Math.max(...down.B.dataSync().map(Math.abs))).toBe(0)
    expect(maxAbsDifference(model.logits(tokens()).dataSync(), base)).toBe(0)
    model.dispose()
  })

  it('merged and unmerged give the same logits; adapters off give the base', () => {
    const model = Llama.create(CFG, 4)
    const base = model.logits(tokens()).dataSync()
    model.adapters = randomAdapters(model, { rank: 4, alpha: 16, dropout: 0, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] }, 7)
    const adapted = model.logits(tokens()).dataSync()
    expect(maxAbsDifference(adapted, base)).toBeGreaterThan(1e-2)
    const merged = mergeAdapters(model)
    expect(maxAbsDifference(merged.logits(tokens()).dataSync(), adapted)).toBeLessThan(1e-4)
    const off = model.adapters.withDisabled(() => model.logits(tokens()).dataSync())
    expect(maxAbsDifference(off, base)).toBe(0)
    expect(model.adapters.enabled).toBe(true)
    merged.dispose()
    model.dispose()
  })

  it('decoding with a KV cache (the fused one-token path) agrees with a full forward pass', () => {
    const model = Llama.create(CFG, 5)
    model.adapters = randomAdapters(model, { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'k'] }, 9)
    const t = tokens()
    const full = model.logits(t) // [2, 8, V]
    const cache = new KVCache(model.config, 2)
    model.logits(tf.slice(t, [0, 0], [2, 7]) as tf.Tensor2D, cache)
    const last = model.nextTokenLogits(tf.slice(t, [0, 7], [2, 1]) as tf.Tensor2D, cache) // [2, V]
    const expected = tf.reshape(tf.slice(full, [0, 7, 0], [2, 1, CFG.vocab_size]), [2, CFG.vocab_size])
    expect(maxAbsDifference(last.dataSync(), expected.dataSync())).toBeLessThan(1e-4)
    model.dispose()
  })

  it('dropout acts only while training, and only on the adapter path', () => {
    const model = Llama.create(CFG, 6)
    model.adapters = randomAdapters(model, { rank: 4, alpha: 8, dropout: 0.5, targets: ['v'] }, 2)
    const evalA = model.logits(tokens()).dataSync()
    expect(maxAbsDifference(model.logits(tokens()).dataSync(), evalA)).toBe(0)
    model.adapters.training = true
    expect(maxAbsDifference(model.logits(tokens()).dataSync(), evalA)).toBeGreaterThan(1e-4)
    const offTraining = model.adapters.withDisabled(() => model.logits(tokens()).dataSync())
    model.adapters.training = false
    expect(maxAbsDifference(offTraining, model.adapters.withDisabled(() => model.logits(tokens()).dataSync()))).toBe(0)
    model.dispose()
  })

  it('a frozen trunk (trainable false) gives the same adapter gradients and loss as a trainable one', () => {
    const model = Llama.create(CFG, 8)
    model.adapters = randomAdapters(model, { rank: 2, alpha: 4, dropout: 0, targets: ['q', 'v', 'up'] }, 3)
    const vars = Object.values(model.adapters.variables())
    const t = tokens()
    const grads = () => {
      const { value, grads } = tf.variableGrads(() => model.loss(t, t), vars)
      return { loss: value.dataSync()[0], grads: vars.map((v) => Array.from(grads[v.name].dataSync())) }
    }
    const trainable = grads()
    for (const w of Object.values(model.weights)) w.trainable = false
    const frozen = grads()
    expect(frozen.loss).toBe(trainable.loss)
    frozen.grads.forEach((g, i) => expect(maxAbsDifference(g, trainable.grads[i])).toBeLessThan(1e-6))
    model.dispose()
  })

  it('frozenLinear (the XNNPACK path for a frozen weight) gives x @ W^T and dx = dy @ W', () => {
    const rand = mulberry32(4)
    const x = tf.tensor2d(normalArray(12 * 6, 1, rand), [12, 6])
    const w = tf.tensor2d(normalArray(5 * 6, 1, rand), [5, 6])
    const dy = tf.tensor2d(normalArray(12 * 5, 1, rand), [12, 5])
    const ours = tf.grad((xIn: tf.Tensor) => tf.sum(tf.mul(frozenLinear(xIn as tf.Tensor2D, w), dy)))(x)
    const ref = tf.grad((xIn: tf.Tensor) => tf.sum(tf.mul(tf.matMul(xIn as tf.Tensor2D, w, false, true), dy)))(x)
    expect(maxAbsDifference(frozenLinear(x, w).dataSync(), tf.matMul(x, w, false, true).dataSync())).toBeLessThan(1e-5)
    expect(maxAbsDifference(ours.dataSync(), ref.dataSync())).toBeLessThan(1e-5)
  })

  it('refuses tensors that do not fit, naming them', () => {
    const model = Llama.create(CFG, 1)
    const settings: LoraSettings = { rank: 2, alpha: 4, dropout: 0, targets: ['q'] }
    const good = LoraAdapters.create(model.config, settings, 0).variables()
    const wrong = { ...good, 'model.layers.1.self_attn.q_proj.lora_A.weight': tf.zeros([3, 32]) }
    expect(() => LoraAdapters.fromTensors(model.config, settings, wrong, 'x/adapter_model.safetensors')).toThrow(/x\/adapter_model.safetensors.*\n.*q_proj.lora_A.weight has shape \[3,32\], expected \[2,32\]/)
    expect(() => LoraAdapters.create(model.config, { ...settings, targets: [] }, 0)).toThrow(/at least one target/)
    model.dispose()
  })
})
