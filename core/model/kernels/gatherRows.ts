// table[ids] (an embedding lookup, or picking rows of a hidden state) with a scatter gradient.
// Why: tf.gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks, and the
// pure-JS cpu version of it was measured at 20 s for one embedding gradient. tf.scatterND sums
// duplicate ids, which is exactly the gradient of a lookup.
import { tf } from '../../backend/tf'
import { customOp } from './customOp'

export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  if (ids.dtype !== 'int32') throw new Error(`gatherRows: ids must be int32, got ${ids.dtype}`)
  const [rows, width] = table.shape
  // ids goes through save(): a tensor only captured by the closure may be freed by an inner
  // tf.tidy before the backward pass runs.
  const op = customOp(([tableIn, idsIn], save) => {
    save([idsIn])
    const value = tf.gather(tableIn, idsIn) // [N, width]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const indices = tf.reshape(saved[0], [ids.shape[0], 1]) // [N, 1]
      // ids are integers: their "gradient" is zero (float32, as tfjs requires).
      return [tf.scatterND(indices, dy, [rows, width]), tf.zeros(saved[0].shape)] // [rows, width], duplicates summed
    }
    return { value, gradFunc }
  })
  return op(table, ids) as tf.Tensor2D
}
