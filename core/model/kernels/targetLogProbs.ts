// log p(target) for every row of a logits matrix, fused: log_softmax and the pick in one op with
// the closed-form gradient d/dlogits = dy * (onehot(target) - softmax).
// Why: autograd through logSoftmax + a float oneHot is slower, and tf.oneHot straight to float32
// gave garbage values on wasm (TFJS-NOTES.md), so the one-hot is built as int32 and cast.
import { tf } from '../../backend/tf'
import { customOp } from './customOp'

export function targetLogProbs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  const [rows, vocab] = logits.shape
  if (targets.shape[0] !== rows) throw new Error(`targetLogProbs: ${targets.shape[0]} targets for ${rows} rows of logits`)
  if (targets.dtype !== 'int32') throw new Error(`targetLogProbs: targets must be int32, got ${targets.dtype}`)
  // targets goes through the op's inputs and save() because a tensor only captured by the closure
  // may be freed by an inner tf.tidy before the backward pass runs.
  const op = customOp(([logitsIn, targetsIn], save) => {
    const x = logitsIn as tf.Tensor2D // [N, V]
    const logZ = tf.logSumExp(x, 1, true) // [N, 1]
    const onehot = tf.cast(tf.oneHot(targetsIn as tf.Tensor1D, vocab), 'float32') // [N, V], oneHot is int32 here
    const picked = tf.sum(tf.mul(x, onehot), 1, true) // [N, 1]
    save([x, logZ, onehot])
    const value = tf.reshape(tf.sub(picked, logZ), [rows]) // [N]
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, logZs, onehots] = saved
      const probs = tf.exp(tf.sub(xs, logZs)) // [N, V] softmax
      const dLogits = tf.mul(tf.sub(onehots, probs), tf.reshape(dy, [rows, 1])) // [N, V]
      return [dLogits, tf.zeros([rows])] // targets are integers: a zero (float32, as tfjs requires) gradient
    }
    return { value, gradFunc }
  })
  return op(logits, targets) as tf.Tensor1D
}
