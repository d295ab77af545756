// y = x @ W^T for a Hugging Face weight W [out, in], with a hand-written gradient.
// Why: tfjs-wasm only takes its fast matmul path (XNNPACK) for 2-D matmuls without transpose flags;
// tf.matMul(x, w, false, true) and the gradients autograd derives use flags and fall to a loop about
// 10x slower. So every matmul here is 2-D with explicit transposes.
import { tf } from '../../backend/tf'
import { customOp } from './customOp'
import { flaggedMatMulIsFast } from '../../backend/matmulRoute'

/** Up to this many rows, y = x W^T uses tfjs's transposeB flag (measured on wasm, bench/model.ts). */
const FEW_ROWS = 8

/**
 * `wT`, when given, is W^T already transposed (the model caches it for token-by-token decoding, so
 * XNNPACK packs each weight once instead of once per token). It only changes how the value is
 * computed; gradients still flow to `w`.
 */
export function linear(x: tf.Tensor2D, w: tf.Tensor2D, wT?: tf.Tensor2D): tf.Tensor2D {
  if (x.shape[1] !== w.shape[1]) {
    throw new Error(`linear: input width ${x.shape[1]} does not match weight [${w.shape}] ([out, in])`)
  }
  // The native matmul and WebGPU take transpose flags at full speed: tfjs's own op and gradient are best.
  if (flaggedMatMulIsFast()) return wT ? tf.matMul(x, wT) : tf.matMul(x, w, false, true)
  if (w instanceof tf.Variable && !w.trainable) return frozenLinear(x, w, wT)
  const op = customOp(([xIn, wIn], save) => {
    const x2 = xIn as tf.Tensor2D // [N, in]
    const w2 = wIn as tf.Tensor2D // [out, in]
    save([x2, w2])
    // For a few rows (token-by-token decoding) the flagged matmul is several times cheaper than
    // transposing (and XNNPACK re-packing) the whole weight; for many rows the fast path wins.
    let value: tf.Tensor2D // [N, out]
    if (wT) value = tf.matMul(x2, wT)
    else if (x2.shape[0] <= FEW_ROWS) value = tf.matMul(x2, w2, false, true)
    else value = tf.matMul(x2, tf.transpose(w2))
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor2D[]
      const dy2 = dy as tf.Tensor2D // [N, out]
      const dx = tf.matMul(dy2, ws) // [N, in]
      // dW = dy^T x, or (x^T dy)^T when transposing x (and the small result) moves fewer floats.
      const [rows, inDim] = xs.shape
      const outDim = ws.shape[0]
      const dw =
        inDim + (inDim * outDim) / rows < outDim
          ? tf.transpose(tf.matMul(tf.transpose(xs), dy2)) // [out, in]
          : tf.matMul(tf.transpose(dy2), xs) // [out, in]
      return [dx, dw]
    }
    return { value, gradFunc }
  })
  return op(x, w) as tf.Tensor2D
}

/**
 * y = x @ W^T for a frozen weight (a LoRA run's trunk: Variable.trainable false): the gradient
 * flows to x only, so W's gradient is never computed and x is not kept for it (tf.customGrad
 * computes every input's gradient eagerly, so W must not be an input of the op).
 */
export function frozenLinear(x: tf.Tensor2D, w: tf.Tensor2D, wT?: tf.Tensor2D): tf.Tensor2D {
  const op = customOp(([xIn]) => {
    const x2 = xIn as tf.Tensor2D // [N, in]
    let value: tf.Tensor2D // [N, out]
    if (wT) value = tf.matMul(x2, wT)
    else if (x2.shape[0] <= FEW_ROWS) value = tf.matMul(x2, w, false, true)
    else value = tf.matMul(x2, tf.transpose(w))
    return { value, gradFunc: (dy) => [tf.matMul(dy as tf.Tensor2D, w)] } // dx [N, in]
  })
  return op(x) as tf.Tensor2D
}
