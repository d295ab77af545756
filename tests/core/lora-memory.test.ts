// A LoRA training step's memory: over a frozen trunk each layer is recomputed in the backward pass
// (core/model/kernels/recompute.ts) instead of keeping its activations. The gradients must be the
// ones the kept activations give (dropout masks replayed), and the step's peak must drop. Memory is
// counted as distinct tensor buffers (core/backend/bufferMeter.ts).
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { BufferMeter } from '../../core/backend/bufferMeter'
import { Llama } from '../../core/model/llama'
import { LoraAdapters, type LoraSettings } from '../../core/model/lora'
import { freezeTrunk } from '../../core/train/stages/finetuning'
import { mulberry32, normalArray } from '../../core/util/random'
import { maxAbsDifference } from '../numerics'

const CFG = { vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 64, max_seq_len: 32 }
const LORA: LoraSettings = { rank: 4, alpha: 8, dropout: 0.3, targets: ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] }

function batch(rows: number, seq: number): { tokens: tf.Tensor2D; targets: tf.Tensor2D } {
  const rand = mulberry32(5)
  const ids = () => Array.from({ length: rows }, () => Array.from({ length: seq }, () => Math.floor(rand() * CFG.vocab_size)))
  return { tokens: tf.tensor2d(ids(), [rows, seq], 'int32'), targets: tf.tensor2d(ids(), [rows, seq], 'int32') }
}

/** A model with adapters whose B is random (a zero B would hide a wrong gradient for A). */
function adaptedModel(frozen: boolean): Llama {
  const model = Llama.create(CFG, 2)
  model.adapters = LoraAdapters.create(model.config, LORA, 9)
  const rand = mulberry32(11)
  for (const { B } of model.adapters.pairs.values()) B.assign(tf.tensor(normalArray(B.size, 0.2, rand), B.shape))
  if (frozen) freezeTrunk(model)
  model.adapters.training = true
  return model
}

/** Loss and adapter gradients of one step (dropout on), and the step's peak buffer bytes. */
function loraStep(model: Llama, rows: number, seq: number): { loss: number; grads: Float32Array[]; peakBytes: number } {
  const { tokens, targets } = batch(rows, seq)
  const vars = Object.values(model.adapters!.variables())
  const meter = new BufferMeter().start()
  try {
    const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets), vars)
    const out = { loss: value.dataSync()[0], grads: vars.map((v) => grads[v.name].dataSync() as Float32Array), peakBytes: meter.peakBytes }
    tf.dispose([value, ...Object.values(grads)])
    return out
  } finally {
    meter.stop()
    tf.dispose([tokens, targets])
  }
}

describe('LoRA step memory', () => {
  beforeAll(async () => {
    await initBackend('wasm')
  })

  it('the buffer meter counts a shared buffer once (reshape, clone) and drops it when the last view goes', () => {
    const meter = new BufferMeter().start()
    const x = tf.zeros([16, 8]) // 512 bytes
    const views = [tf.reshape(x, [128]), tf.clone(x)]
    expect(meter.liveBytes).toBe(512)
    expect(tf.memory().numBytes).toBeGreaterThanOrEqual(3 * 512) // what tfjs's own figure says
    x.dispose()
    expect(meter.liveBytes).toBe(512)
    tf.dispose(views)
    expect(meter.liveBytes).toBe(0)
    expect(meter.peakBytes).toBe(512)
    meter.stop()
  })

  it('recomputing each layer gives the gradients kept activations give (same dropout masks) and lowers the peak', () => {
    const kept = adaptedModel(false) // a trainable trunk: no recomputation
    const recomputed = adaptedModel(true)
    const a = loraStep(kept, 4, 32)
    const b = loraStep(recomputed, 4, 32)
    expect(b.loss).toBeCloseTo(a.loss, 6)
    for (let i = 0; i < a.grads.length; i++) {
      const scale = Math.max(...a.grads[i].map(Math.abs))
      expect(scale).toBeGreaterThan(0)
      expect(maxAbsDifference(a.grads[i], b.grads[i])).toBeLessThan(1e-5 * scale)
    }
    // The dropout masks differ from step to step (the replay does not freeze them).
    expect(loraStep(recomputed, 4, 32).loss).not.toBe(b.loss)
    expect(b.peakBytes).toBeLessThan(0.6 * a.peakBytes)
    kept.dispose()
    recomputed.dispose()
  })
})
