// a @ b for stacks of matrices ([G, M, K] @ [G, K, N]), with a gradient that uses explicit
// transposes instead of transpose flags (see linear.ts for why flags are slow on wasm).
import { tf } from '../../backend/tf'

export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new Error(`batchMatMul: shapes [${a.shape}] and [${b.shape}] do not multiply`)
  }
  const op = tf.customGrad((aIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([aIn, bIn])
    const value = tf.matMul(aIn as tf.Tensor3D, bIn as tf.Tensor3D) // [G, M, N]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [as, bs] = saved as tf.Tensor3D[]
      const da = tf.matMul(dy as tf.Tensor3D, tf.transpose(bs, [0, 2, 1])) // [G, M, K]
      const db = tf.matMul(tf.transpose(as, [0, 2, 1]), dy as tf.Tensor3D) // [G, K, N]
      return [da, db]
    }
    return { value, gradFunc }
  })
  return op(a, b) as tf.Tensor3D
}
