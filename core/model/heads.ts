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
 * Index of each row's last real token (what HF's sequence classification scores), from the
 * attention mask (1 = real token, 0 = padding), so it works with left or right padding and with
 * tokenizers whose pad id is also BOS/EOS (GPT-2's <|endoftext|>). Throws on a row with no real
 * token.
 */
export function lastTokenIndices(mask: number[][]): number[] {
  return mask.map((row, b) => {
    const last = row.lastIndexOf(1)
    if (last < 0) throw new Error(`lastTokenIndices: row ${b} of the attention mask has no real token (all 0)`)
    return last
  })
}

/** The attention mask for rows of `lengths` real tokens, right-padded to `width`. */
export function rightPaddedMask(lengths: number[], width: number): number[][] {
  return lengths.map((n, b) => {
    if (!Number.isInteger(n) || n < 1 || n > width) throw new Error(`rightPaddedMask: row ${b} has length ${n}, outside 1..${width}`)
    return Array.from({ length: width }, (_, t) => (t < n ? 1 : 0))
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

  /**
   * Runs the trunk and scores each sequence at its last real token, [B]. Differentiable. `mask` is
   * the attention mask (1 = token, 0 = padding); the padding must be on the right, since the trunk
   * attends to every earlier position: causal attention keeps a real token from seeing the pads
   * after it, but not those before it.
   */
  score(model: Llama, tokens: number[][], mask: number[][]): tf.Tensor1D {
    const lastIndex = lastTokenIndices(mask)
    checkRightPadded(tokens, mask)
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

function checkRightPadded(tokens: number[][], mask: number[][]): void {
  if (mask.length !== tokens.length) throw new Error(`score: ${mask.length} mask rows for ${tokens.length} token rows`)
  mask.forEach((row, b) => {
    if (row.length !== tokens[b].length) throw new Error(`score: mask row ${b} has ${row.length} entries for ${tokens[b].length} tokens`)
    const firstPad = row.indexOf(0)
    if (firstPad === 0 || (firstPad > 0 && row.indexOf(1, firstPad) !== -1)) {
      throw new Error(`score: row ${b} is not right-padded (mask ${JSON.stringify(row)}); put the padding after the tokens`)
    }
  })
}
