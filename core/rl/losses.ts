// PPO's losses on the model's outputs (tensors, differentiable), as TRL's PPOTrainer computes them.
// Every per-token tensor is [B, T] with a response mask [B, T] (1 = response token); means are
// over the masked positions only.
import { tf } from '../backend/tf'

/** sum(x * mask) / max(sum(mask), 1): a mean over the masked positions (0 for an empty mask). */
export function maskedMeanT(x: tf.Tensor, mask: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tf.sum(mask), 1)) as tf.Scalar)
}

export type PolicyLoss = {
  /** masked mean of max(-A * ratio, -A * clip(ratio, 1 - eps, 1 + eps)) */
  loss: tf.Scalar
  /** Share of tokens where the clipped term was the larger one (TRL's pg_clipfrac). */
  clipfrac: tf.Scalar
  /** 0.5 * masked mean of (log ratio)^2, the approximate KL TRL reports as policy/approxkl. */
  approxkl: tf.Scalar
}

/**
 * The clipped surrogate objective (Schulman et al. 2017) as a loss to minimise.
 * newLogp: log pi_theta of the taken tokens now; oldLogp: the same at rollout time (constants).
 */
export function clippedPolicyLoss(newLogp: tf.Tensor2D, oldLogp: tf.Tensor2D, advantages: tf.Tensor2D, mask: tf.Tensor2D, clip = 0.2): PolicyLoss {
  return tf.tidy(() => {
    const logRatio = tf.sub(newLogp, oldLogp) // [B, T]
    const ratio = tf.exp(logRatio)
    const unclipped = tf.mul(tf.neg(advantages), ratio)
    const clipped = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clip, 1 + clip))
    return {
      loss: maskedMeanT(tf.maximum(unclipped, clipped), mask),
      clipfrac: maskedMeanT(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask),
      approxkl: tf.mul(maskedMeanT(tf.square(logRatio), mask), 0.5) as tf.Scalar,
    }
  })
}

export type ValueLoss = {
  /** 0.5 * masked mean of max((V - R)^2, (V_clipped - R)^2) */
  loss: tf.Scalar
  /** Share of tokens where the clipped term was the larger one (TRL's vf_clipfrac). */
  clipfrac: tf.Scalar
}

/**
 * The clipped value loss: new values may move at most clipValue from the rollout's values
 * (TRL's cliprange_value) before the loss stops rewarding the move.
 */
export function clippedValueLoss(values: tf.Tensor2D, oldValues: tf.Tensor2D, returns: tf.Tensor2D, mask: tf.Tensor2D, clipValue = 0.2): ValueLoss {
  return tf.tidy(() => {
    const valuesClipped = tf.add(oldValues, tf.clipByValue(tf.sub(values, oldValues), -clipValue, clipValue))
    const unclipped = tf.square(tf.sub(values, returns))
    const clipped = tf.square(tf.sub(valuesClipped, returns))
    return {
      loss: tf.mul(maskedMeanT(tf.maximum(unclipped, clipped), mask), 0.5) as tf.Scalar,
      clipfrac: maskedMeanT(tf.cast(tf.greater(clipped, unclipped), 'float32'), mask),
    }
  })
}

/** Entropy of the softmax of each row of logits, [N] from [N, V]: logsumexp(x) - sum(softmax(x) * x). */
export function entropyFromLogits(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const logZ = tf.logSumExp(logits, 1) // [N]
    const probs = tf.softmax(logits, 1) // [N, V]
    return tf.sub(logZ, tf.sum(tf.mul(probs, logits), 1)) as tf.Tensor1D
  })
}
