// a @ b for stacks of matrices ([G, M, K] @ [G, K, N]) done as G separate 2-D matmuls, with a
// gradient that uses explicit transposes instead of transpose flags.
// Why: tfjs-wasm's BatchMatMul takes its fast path (XNNPACK) only for a single 2-D matmul without
// transpose flags; a [32, 256, 32] @ [32, 32, 128] batch ran at ~2.4 GFLOP/s, several times slower
// than the same work as 32 unstacked 2-D matmuls (see bench/model.ts).
import { tf } from '../../backend/tf'
import { customOp } from './customOp'
import { flaggedMatMulIsFast } from '../../backend/matmulRoute'

/** Below this many rows per matrix (token-by-token decoding) one batched matmul is cheaper. */
const FEW_ROWS = 8

/** G independent 2-D matmuls, stacked back into [G, M, N]. */
function stackedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[1] <= FEW_ROWS) return tf.matMul(a, b)
  if (a.shape[0] === 1) return tf.reshape(tf.matMul(tf.reshape(a, a.shape.slice(1) as [number, number]), tf.reshape(b, b.shape.slice(1) as [number, number])), [1, a.shape[1], b.shape[2]])
  const as = tf.unstack(a) as tf.Tensor2D[]
  const bs = tf.unstack(b) as tf.Tensor2D[]
  return tf.stack(as.map((ai, i) => tf.matMul(ai, bs[i]))) as tf.Tensor3D
}

function swapLast(x: tf.Tensor3D): tf.Tensor3D {
  return tf.transpose(x, [0, 2, 1])
}

export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new Error(`batchMatMul: shapes [${a.shape}] and [${b.shape}] do not multiply`)
  }
  // The native matmul and WebGPU run batches and transpose flags at full speed: tfjs's own op and gradient.
  if (flaggedMatMulIsFast()) return tf.matMul(a, b)
  const op = customOp(([aIn, bIn], save) => {
    save([aIn, bIn])
    const value = stackedMatMul(aIn as tf.Tensor3D, bIn as tf.Tensor3D) // [G, M, N]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [as, bs] = saved as tf.Tensor3D[]
      const d = dy as tf.Tensor3D
      const [, M, K] = as.shape
      const N = bs.shape[2]
      // Each gradient has two explicit-transpose forms; take the one that moves fewer floats
      // (e.g. for probs @ v, (dy^T probs)^T avoids transposing the [T, T] probabilities).
      const da = K * N <= M * N + M * K
        ? stackedMatMul(d, swapLast(bs)) // dy b^T, [G, M, K]
        : swapLast(stackedMatMul(bs, swapLast(d))) // (b dy^T)^T
      const db = M * K <= M * N + K * N
        ? stackedMatMul(swapLast(as), d) // a^T dy, [G, K, N]
        : swapLast(stackedMatMul(swapLast(d), as)) // (dy^T a)^T
      return [da, db]
    }
    return { value, gradFunc }
  })
  return op(a, b) as tf.Tensor3D
}
