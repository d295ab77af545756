// One training step of a model on a fixed random batch (forward, backward, clipping at 1.0, AdamW),
// as the profiling and A/B scripts time it (bench/profileStep.ts, bench/attentionAB.ts).
import { tf } from '../core/backend/tf'
import type { LlamaConfig } from '../core/model/config'
import { Llama } from '../core/model/llama'
import { AdamW, clipCoefficient } from '../core/train/adamw'
import { mulberry32 } from '../core/util/random'

/** A function that runs one step of a fresh model (seed 0) on `batch` random rows of `seq` tokens. */
export function trainingStep(cfg: LlamaConfig, batch: number, seq: number): { step: () => void } {
  const model = Llama.create(cfg, 0)
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(model.weights) // its moments are variables; the tidy frees the temporaries
  })
  const rand = mulberry32(1)
  const ids = Int32Array.from({ length: batch * (seq + 1) }, () => Math.floor(rand() * cfg.vocab_size))
  const tokens = tf.tensor2d(ids.filter((_, i) => i % (seq + 1) !== seq), [batch, seq], 'int32') // [B, T]
  const targets = tf.tensor2d(ids.filter((_, i) => i % (seq + 1) !== 0), [batch, seq], 'int32') // [B, T]
  const step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets))
      optimizer.applyGradients(grads, 1e-3, clipCoefficient(grads, 1).scale)
      value.dataSync()
    })
  return { step }
}
