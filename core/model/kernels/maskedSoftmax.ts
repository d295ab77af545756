// Attention's softmax with its additive mask: softmax(scores + mask) over the last axis. On wasm
// and cpu with the native addon it is one fused kernel each way (core/backend/kernels/nativeOps.ts)
// with the closed-form gradient dscores = y * (dy - sum(dy * y)); elsewhere the tfjs formulation,
// whose gradient tfjs derives. The mask is a constant (the causal mask, padding): no gradient.
import { tf } from '../../backend/tf'
import { MASKED_SOFTMAX, MASKED_SOFTMAX_GRAD, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/**
 * scores + mask: mask [Q, K] for every group alike, or [B, Q, K] per row of a padded batch, whose
 * G / B heads (consecutive groups) share it. scores: [G, Q, K].
 */
function addMask(scores: tf.Tensor3D, mask: tf.Tensor2D | tf.Tensor3D): tf.Tensor3D {
  if (mask.rank === 2) return tf.add(scores, mask)
  const [groups, queries, keys] = scores.shape
  const batch = mask.shape[0]
  const byRow = tf.reshape(scores, [batch, groups / batch, queries, keys]) // [B, Hkv, Q, K]
  return tf.reshape(tf.add(byRow, tf.expandDims(mask, 1)), [groups, queries, keys])
}

/** The tfjs formulation (also the reference the fused kernels are tested against). scores: [G, Q, K]. */
export function maskedSoftmaxTfjs(scores: tf.Tensor3D, mask: tf.Tensor2D | tf.Tensor3D): tf.Tensor3D {
  return tf.softmax(addMask(scores, mask)) as tf.Tensor3D // [G, Q, K]
}

/** The fused native kernels, forward and backward. scores: [G, Q, K]; mask: [Q, K] or [B, Q, K]. */
export function maskedSoftmaxFused(scores: tf.Tensor3D, mask: tf.Tensor2D | tf.Tensor3D): tf.Tensor3D {
  const op = customOp(([s, m], save) => {
    const y = tf.engine().runKernel(MASKED_SOFTMAX, { scores: s, mask: m }, {}) as tf.Tensor3D // [G, Q, K]
    save([y])
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const dScores = tf.engine().runKernel(MASKED_SOFTMAX_GRAD, { y: saved[0], dy }, {}) as tf.Tensor3D // [G, Q, K]
      return [dScores, tf.zeros(mask.shape)] // the mask is a constant
    }
    return { value: y, gradFunc }
  })
  return op(scores, mask) as tf.Tensor3D
}

/** softmax(scores + mask) over the last axis (plain softmax without a mask), fused where the backend has the native kernels. */
export function maskedSoftmax(scores: tf.Tensor3D, mask: tf.Tensor2D | tf.Tensor3D | null): tf.Tensor3D {
  if (!mask) return tf.softmax(scores) as tf.Tensor3D
  return nativeOpsActive() && scores.dtype === 'float32' && mask.dtype === 'float32' ? maskedSoftmaxFused(scores, mask) : maskedSoftmaxTfjs(scores, mask)
}
