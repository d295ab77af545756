// table[ids] (an embedding lookup, or picking rows of a hidden state) with a scatter gradient.
// Why: tf.gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks, and the
// pure-JS cpu version of it was measured at 20 s for one embedding gradient. tf.scatterND sums
// duplicate ids, which is exactly the gradient of a lookup. On wasm and cpu with the native addon
// both directions are native kernels split across its threads (core/backend/kernels/nativeOps.ts),
// which also refuse an id outside the table by name instead of reading past it.
import { tf } from '../../backend/tf'
import { GATHER_ROWS, SCATTER_ROWS, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

function checkIds(ids: tf.Tensor1D): void {
  if (ids.dtype !== 'int32') throw new Error(`gatherRows: ids must be int32, got ${ids.dtype}`)
}

/** The tfjs formulation (also the reference the native kernels are tested against). table: [rows, width], ids: [N] int32. */
export function gatherRowsTfjs(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  checkIds(ids)
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

/** The native kernels, forward and backward. table: [rows, width], ids: [N] int32. */
export function gatherRowsNative(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  checkIds(ids)
  const rows = table.shape[0]
  const op = customOp(([tableIn, idsIn], save) => {
    save([idsIn])
    const value = tf.engine().runKernel(GATHER_ROWS, { table: tableIn, ids: idsIn }, {}) as tf.Tensor2D // [N, width]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const dTable = tf.engine().runKernel(SCATTER_ROWS, { ids: saved[0], dy }, { rows }) as tf.Tensor2D // [rows, width], duplicates summed
      return [dTable, tf.zeros(saved[0].shape)] // ids are integers: a zero (float32) gradient
    }
    return { value, gradFunc }
  })
  return op(table, ids) as tf.Tensor2D
}

/** table[ids] with the scatter gradient, native where the backend has the kernels. table: [rows, width], ids: [N] int32. */
export function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  return nativeOpsActive() && table.dtype === 'float32' ? gatherRowsNative(table, ids) : gatherRowsTfjs(table, ids)
}
