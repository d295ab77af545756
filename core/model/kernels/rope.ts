// Rotary position embedding in Hugging Face's rotate_half layout: each head's first half and second
// half form the pairs, out = x * cos + rotate_half(x) * sin with rotate_half(x) = [-x2, x1]. On wasm
// and cpu with the native addon it is one fused kernel each way (core/backend/kernels/nativeOps.ts)
// with the backward the transposed rotation; elsewhere the tfjs formulation, whose gradient tfjs
// derives. cos and sin are constants (tables of positions): no gradient.
import { tf } from '../../backend/tf'
import { ROPE, ROPE_GRAD, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/**
 * The tfjs formulation (also the reference the fused kernels are tested against): rotate_half as
 * x @ R (R the signed permutation `rotateHalf` [hd, hd]), so it stays one fast 2-D matmul and needs
 * no slices. x: [B*T, H*hd]; cos, sin: [1 or B, T, 1, hd].
 */
export function ropeTfjs(x: tf.Tensor2D, cos: tf.Tensor4D, sin: tf.Tensor4D, rotateHalf: tf.Tensor2D): tf.Tensor2D {
  const [, seq, , hd] = cos.shape
  const [rows, width] = x.shape
  const shape4 = [rows / seq, seq, width / hd, hd]
  const rotated = tf.reshape(tf.matMul(tf.reshape(x, [-1, hd]), rotateHalf), shape4)
  const x4 = tf.reshape(x, shape4) // [B, T, H, hd]
  return tf.reshape(tf.add(tf.mul(x4, cos), tf.mul(rotated, sin)), [rows, width])
}

/** The fused native kernels, forward and backward. x: [B*T, H*hd]; cos, sin: [1 or B, T, 1, hd]. */
export function ropeFused(x: tf.Tensor2D, cos: tf.Tensor4D, sin: tf.Tensor4D): tf.Tensor2D {
  const op = customOp(([xIn, c, s], save) => {
    save([c, s])
    const value = tf.engine().runKernel(ROPE, { x: xIn, cos: c, sin: s }, {}) as tf.Tensor2D // [B*T, H*hd]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [cs, ss] = saved
      const dx = tf.engine().runKernel(ROPE_GRAD, { dy, cos: cs, sin: ss }, {}) as tf.Tensor2D // [B*T, H*hd]
      return [dx, tf.zeros(cos.shape), tf.zeros(sin.shape)] // the tables are constants
    }
    return { value, gradFunc }
  })
  return op(x, cos, sin) as tf.Tensor2D
}

/** RoPE of x [B*T, H*hd] at the positions of cos, sin [1 or B, T, 1, hd], fused where the backend has the native kernels. */
export function rope(x: tf.Tensor2D, cos: tf.Tensor4D, sin: tf.Tensor4D, rotateHalf: tf.Tensor2D): tf.Tensor2D {
  return nativeOpsActive() && x.dtype === 'float32' ? ropeFused(x, cos, sin) : ropeTfjs(x, cos, sin, rotateHalf)
}
