// log p(target) for every row of a logits matrix, fused: log_softmax and the pick in one op with
// the closed-form gradient d/dlogits = dy * (onehot(target) - softmax).
// On wasm and cpu with the native addon both directions are one native kernel each
// (core/backend/kernels/nativeOps.ts: no [N, V] temporaries but the gradient); elsewhere the tfjs
// formulation below. Why not autograd through logSoftmax + a float oneHot: it is slower, and
// tf.oneHot straight to float32 gave garbage values on wasm (TFJS-NOTES.md), so the one-hot is
// built as int32 and cast.
import { tf } from '../../backend/tf'
import { LOG_SOFTMAX_PICK, LOG_SOFTMAX_PICK_GRAD, nativeOpsActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

function checkTargets(logits: tf.Tensor2D, targets: tf.Tensor1D): void {
  const rows = logits.shape[0]
  if (targets.shape[0] !== rows) throw new Error(`targetLogProbs: ${targets.shape[0]} targets for ${rows} rows of logits`)
  if (targets.dtype !== 'int32') throw new Error(`targetLogProbs: targets must be int32, got ${targets.dtype}`)
}

/** The tfjs formulation (also the reference the fused kernels are tested against). logits: [N, V], targets: [N] int32. */
export function targetLogProbsTfjs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  checkTargets(logits, targets)
  const [rows, vocab] = logits.shape
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

/** The fused native kernels, forward and backward. logits: [N, V], targets: [N] int32. */
export function targetLogProbsFused(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  checkTargets(logits, targets)
  const rows = logits.shape[0]
  const op = customOp(([x, t], save) => {
    const [logp, logz] = tf.engine().runKernel(LOG_SOFTMAX_PICK, { x, targets: t }, {}) as tf.Tensor1D[] // [N], [N]
    save([x, t, logz])
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ts, zs] = saved
      const dLogits = tf.engine().runKernel(LOG_SOFTMAX_PICK_GRAD, { x: xs, targets: ts, logz: zs, dy }, {}) as tf.Tensor2D // [N, V]
      return [dLogits, tf.zeros([rows])] // targets are integers: a zero (float32, as tfjs requires) gradient
    }
    return { value: logp, gradFunc }
  })
  return op(logits, targets) as tf.Tensor1D
}

/** log p(targets[i]) under softmax(logits[i]), fused where the backend has the native kernels. logits: [N, V], targets: [N] int32. */
export function targetLogProbs(logits: tf.Tensor2D, targets: tf.Tensor1D): tf.Tensor1D {
  return nativeOpsActive() && logits.dtype === 'float32' ? targetLogProbsFused(logits, targets) : targetLogProbsTfjs(logits, targets)
}

/**
 * log sum exp of every row, [N, V] -> [N, 1], without a gradient (generation's log-probabilities,
 * core/model/generate.ts): the fused kernel's logZ where the backend has it (one pass with an
 * 8-wide exp, where tfjs's wasm Exp alone took 4% of a small model's decoding step at batch 8),
 * else tf.logSumExp.
 */
export function logSumExpRows(logits: tf.Tensor2D): tf.Tensor2D {
  if (!nativeOpsActive() || logits.dtype !== 'float32') return tf.logSumExp(logits, 1, true) as tf.Tensor2D
  return tf.tidy(() => {
    const anyTargets = tf.zeros([logits.shape[0]], 'int32') // [N]: only logZ is used
    const [, logz] = tf.engine().runKernel(LOG_SOFTMAX_PICK, { x: logits, targets: anyTargets }, {}) as tf.Tensor1D[] // [N]
    return tf.reshape(logz, [logits.shape[0], 1]) as tf.Tensor2D
  })
}
