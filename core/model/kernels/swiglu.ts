// The SwiGLU gate silu(g) * u = g * sigmoid(g) * u. On wasm and cpu with the native addon it is
// one fused kernel each way (core/backend/kernels/nativeOps.ts) with the closed-form gradient
//   dg = dh * u * s * (1 + g * (1 - s)),  du = dh * g * s  (s = sigmoid(g));
// elsewhere the tfjs formulation, whose gradient tfjs derives.
import { tf } from '../../backend/tf'
import { SWIGLU, SWIGLU_GRAD, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/** The tfjs formulation (also the reference the fused kernels are tested against). g, u: [N, hidden]. */
export function swigluGateTfjs(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.mul(g, tf.sigmoid(g)), u) as tf.Tensor2D // [N, hidden]
}

/** The fused native kernels, forward and backward. g, u: [N, hidden]. */
export function swigluGateFused(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  const op = customOp(([gIn, uIn], save) => {
    save([gIn, uIn])
    const value = tf.engine().runKernel(SWIGLU, { g: gIn, u: uIn }, {}) as tf.Tensor2D // [N, hidden]
    const gradFunc = (dh: tf.Tensor, saved: tf.Tensor[]) => {
      const [gs, us] = saved
      return tf.engine().runKernel(SWIGLU_GRAD, { g: gs, u: us, dh }, {}) as tf.Tensor[] // [N, hidden] x 2
    }
    return { value, gradFunc }
  })
  return op(g, u) as tf.Tensor2D
}

/** silu(g) * u, fused where the backend has the native kernels. g, u: [N, hidden]. */
export function swigluGate(g: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
  return nativeOpsActive() && g.dtype === 'float32' ? swigluGateFused(g, u) : swigluGateTfjs(g, u)
}
