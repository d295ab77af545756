// RMSNorm with its scale: x / rms(x) * weight over the last axis. On wasm and cpu with the native
// addon it is one fused kernel each way (core/backend/kernels/nativeOps.ts) with the
// closed-form gradient; elsewhere the tfjs formulation, whose gradient tfjs derives.
import { tf } from '../../backend/tf'
import { RMS_NORM, RMS_NORM_GRAD, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/** The tfjs formulation (also the reference the fused kernels are tested against). x: [N, D], weight: [D]. */
export function rmsNormTfjs(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  const meanSquare = tf.mean(tf.square(x), 1, true) // [N, 1]
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(meanSquare, eps))), weight) as tf.Tensor2D // [N, D]
}

/** The fused native kernels, forward and backward. x: [N, D], weight: [D]. */
export function rmsNormFused(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  const op = customOp(([xIn, wIn], save) => {
    save([xIn, wIn])
    const value = tf.engine().runKernel(RMS_NORM, { x: xIn, weight: wIn }, { eps }) as tf.Tensor2D // [N, D]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved
      return tf.engine().runKernel(RMS_NORM_GRAD, { x: xs, weight: ws, dy }, { eps }) as tf.Tensor[] // [N, D], [D]
    }
    return { value, gradFunc }
  })
  return op(x, weight) as tf.Tensor2D
}

/** x / rms(x) * weight over the last axis, fused where the backend has the native kernels. x: [N, D], weight: [D]. */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  return nativeOpsActive() && x.dtype === 'float32' ? rmsNormFused(x, weight, eps) : rmsNormTfjs(x, weight, eps)
}
