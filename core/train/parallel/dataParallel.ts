// The gradients of one optimiser step: on this thread alone, or split across gradient workers.
// Either way the result is the mean over the micro-batches of each one's gradient, so the update
// is that of one big batch (up to float rounding in the order of the sums).
import { tf } from '../../backend/tf'
import { batchTensors, type Batch, type BatchTensors } from '../batches'
import type { GradientWorkers } from './gradientWorkers'
import { splitBatch } from './shards'

/** Gradients keyed by variable name (as tf.variableGrads keys them), and the mean loss. Caller disposes. */
export interface StepGradients {
  grads: Record<string, tf.Tensor>
  loss: tf.Scalar
}

type LossOf = (t: BatchTensors) => tf.Scalar

/** The step's gradients: split across the pool's workers when there is one, else on this thread. */
export function stepGradients(micro: Batch[], lossOf: LossOf, pool: GradientWorkers | null): Promise<StepGradients> | StepGradients {
  return pool ? parallelGradients(micro, lossOf, pool) : localGradients(micro, lossOf)
}

/** Every micro-batch on this thread. */
export function localGradients(micro: Batch[], lossOf: LossOf): StepGradients {
  return tidyStep(() => {
    let gradSum: Record<string, tf.Tensor> | null = null
    let lossSum: tf.Scalar = tf.scalar(0)
    for (const batch of micro) {
      const { value, grads } = tf.variableGrads(() => lossOf(batchTensors(batch)))
      lossSum = tf.add(lossSum, value)
      gradSum = gradSum === null ? grads : addInto(gradSum, [grads])
    }
    return meanOver(micro.length, gradSum!, lossSum)
  })
}

/**
 * Each micro-batch split by rows into one shard per thread: shard 0 here, the others on the
 * workers, all at once. The workers get the current weights first.
 */
export async function parallelGradients(micro: Batch[], lossOf: LossOf, pool: GradientWorkers): Promise<StepGradients> {
  pool.publish()
  let total: StepGradients | null = null
  try {
    for (const batch of micro) {
      const [mine, ...theirs] = splitBatch(batch, pool.size + 1)
      const remote = theirs.map((shard, i) => pool.compute(i, shard))
      // Should this thread's shard throw, the workers' outcomes are no longer awaited by anyone.
      for (const r of remote) r.catch(() => {})
      // While the workers run: this thread's shard. [variable name] -> gradient of weight * loss.
      const local = tf.tidy(() => tf.variableGrads(() => tf.mul(lossOf(batchTensors(mine.batch)), mine.weight) as tf.Scalar))
      let remoteLosses: number[]
      try {
        remoteLosses = await Promise.all(remote)
      } catch (err) {
        disposeStep({ grads: local.grads, loss: local.value })
        throw err
      }
      const previous: StepGradients | null = total
      total = tidyStep(() => {
        const grads = addInto(local.grads, theirs.map((_, i) => pool.gradients(i)))
        const loss = tf.add(local.value, remoteLosses.reduce((a, b) => a + b, 0)) as tf.Scalar
        return previous ? { grads: addInto(previous.grads, [grads]), loss: tf.add(previous.loss, loss) as tf.Scalar } : { grads, loss }
      })
      disposeStep(previous)
      disposeStep({ grads: local.grads, loss: local.value })
    }
    const sum = total!
    if (micro.length === 1) return sum
    total = tidyStep(() => meanOver(micro.length, sum.grads, sum.loss))
    disposeStep(sum)
    return total
  } catch (err) {
    disposeStep(total)
    throw err
  }
}

/** tf.tidy for a function returning StepGradients: the tensors in the returned object are kept. */
function tidyStep(fn: () => StepGradients): StepGradients {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as StepGradients
}

export function disposeStep(step: StepGradients | null): void {
  if (step) tf.dispose([step.loss, ...Object.values(step.grads)])
}

/** a[k] + b1[k] + b2[k] + ... for every key of a (call inside a tidy). */
function addInto(a: Record<string, tf.Tensor>, others: Record<string, tf.Tensor>[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {}
  for (const key of Object.keys(a)) out[key] = others.reduce((sum, o) => tf.add(sum, o[key]), a[key])
  return out
}

function meanOver(count: number, grads: Record<string, tf.Tensor>, lossSum: tf.Scalar): StepGradients {
  if (count === 1) return { grads, loss: lossSum }
  const out: Record<string, tf.Tensor> = {}
  for (const key of Object.keys(grads)) out[key] = tf.mul(grads[key], 1 / count)
  return { grads: out, loss: tf.mul(lossSum, 1 / count) as tf.Scalar }
}
