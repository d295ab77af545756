// Scalar heads on the Llama trunk: a reward head (Hugging Face LlamaForSequenceClassification's
// `score.weight` [1, D], no bias) and a value head (`value_head.weight` [1, D]) for PPO. Both read
// the final-norm hidden states of the same trunk (Llama.hidden).
import { tf } from '../backend/tf'
import { gatherRows } from './kernels/gatherRows'
import { linear } from './kernels/linear'
import { mulberry32, normalArray } from '../util/random'
import type { Llama } from './llama'

export type ScalarHeadKind = 'reward' | 'value'

export const SCALAR_HEAD_WEIGHT_NAMES: Record<ScalarHeadKind, string> = {
  reward: 'score.weight',
  value: 'value_head.weight',
}

/**
 * Index of each sequence's last non-pad token (what HF's sequence classification scores): the
 * position before the first pad, or the last position when there is no pad. Throws on a sequence
 * that is all padding.
 */
export function lastTokenIndices(tokens: number[][], padId: number): number[] {
  return tokens.map((row, b) => {
    const firstPad = row.indexOf(padId)
    const last = firstPad === -1 ? row.length - 1 : firstPad - 1
    if (last < 0) throw new Error(`lastTokenIndices: sequence ${b} has no tokens before padding`)
    return last
  })
}

export class ScalarHead {
  private constructor(
    readonly kind: ScalarHeadKind,
    /** [1, D] */
    readonly weight: tf.Variable,
  ) {}

  /** Small random init (std 1/sqrt(D+1), as TRL's value heads), seeded. */
  static create(kind: ScalarHeadKind, dim: number, seed = 0): ScalarHead {
    const values = normalArray(dim, 1 / Math.sqrt(dim + 1), mulberry32(seed))
    return new ScalarHead(kind, tf.tidy(() => tf.variable(tf.tensor2d(values, [1, dim]), true)))
  }

  /** From a loaded tensor (e.g. `score.weight` of a safetensors file); copied, caller keeps it. */
  static fromWeight(kind: ScalarHeadKind, weight: tf.Tensor): ScalarHead {
    if (weight.rank !== 2 || weight.shape[0] !== 1) {
      throw new Error(`${SCALAR_HEAD_WEIGHT_NAMES[kind]} must have shape [1, dim], got [${weight.shape}]`)
    }
    return new ScalarHead(kind, tf.tidy(() => tf.variable(tf.cast(weight, 'float32'), true)))
  }

  get weightName(): string {
    return SCALAR_HEAD_WEIGHT_NAMES[this.kind]
  }

  /** A scalar for every position, [B, T] (a value head's per-token values). hidden: [B, T, D]. */
  perToken(hidden: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => {
      const [batch, seq, dim] = hidden.shape
      this.checkWidth(dim)
      const scores = linear(tf.reshape(hidden, [batch * seq, dim]), this.weight as unknown as tf.Tensor2D) // [N, 1]
      return tf.reshape(scores, [batch, seq]) as tf.Tensor2D
    })
  }

  /** One scalar per sequence from the hidden state at `lastIndex[b]`, [B]. hidden: [B, T, D]. */
  atPositions(hidden: tf.Tensor3D, lastIndex: number[]): tf.Tensor1D {
    return tf.tidy(() => {
      const [batch, seq, dim] = hidden.shape
      this.checkWidth(dim)
      if (lastIndex.length !== batch) throw new Error(`atPositions: ${lastIndex.length} indices for a batch of ${batch}`)
      lastIndex.forEach((t, b) => {
        if (!Number.isInteger(t) || t < 0 || t >= seq) throw new Error(`atPositions: index ${t} of sequence ${b} is outside 0..${seq - 1}`)
      })
      const rows = tf.tensor1d(lastIndex.map((t, b) => b * seq + t), 'int32') // [B] rows of [B*T, D]
      const picked = gatherRows(tf.reshape(hidden, [batch * seq, dim]), rows) // [B, D]
      return tf.reshape(linear(picked, this.weight as unknown as tf.Tensor2D), [batch]) as tf.Tensor1D
    })
  }

  /** Runs the trunk and scores each sequence at its last non-pad token, [B]. Differentiable. */
  score(model: Llama, tokens: number[][], padId: number): tf.Tensor1D {
    const lastIndex = lastTokenIndices(tokens, padId)
    return tf.tidy(() => {
      const hidden = model.hidden(tf.tensor2d(tokens, [tokens.length, tokens[0]?.length ?? 0], 'int32'))
      return this.atPositions(hidden, lastIndex)
    })
  }

  trainableVariables(): tf.Variable[] {
    return [this.weight]
  }

  dispose(): void {
    this.weight.dispose()
  }

  private checkWidth(dim: number): void {
    if (dim !== this.weight.shape[1]) throw new Error(`${this.weightName}: hidden width ${dim} does not match the head's [${this.weight.shape}]`)
  }
}
