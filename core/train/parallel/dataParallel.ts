// The gradients of one optimiser step: on this thread alone, or split across gradient workers.
// Either way the result is the gradient of the step's loss as one big batch would have it: every
// micro-batch (and every shard of one) weighted by its share of the step's trained units (see
// shards.ts), so the update does not depend on how the rows were grouped (up to float rounding).
import { tf } from '../../backend/tf'
import type { RowBatch, TrainTask } from '../task'
import type { GradientWorkers } from './gradientWorkers'
import type { ShardValues } from './protocol'
import { splitBatch } from './shards'

/** Gradients keyed by variable name (as tf.variableGrads keys them), the loss and metrics. Caller disposes. */
export interface StepGradients {
  grads: Record<string, tf.Tensor>
  loss: tf.Scalar
  metrics: Record<string, tf.Scalar>
}

type Params = Record<string, tf.Variable>

/** The step's gradients: split across the pool's workers when there is one, else on this thread. */
export function stepGradients<B extends RowBatch>(micro: B[], task: TrainTask<B>, params: Params, pool: GradientWorkers | null): Promise<StepGradients> | StepGradients {
  return pool ? parallelGradients(micro, task, params, pool) : localGradients(micro, task, params)
}

/** Every micro-batch on this thread. */
export function localGradients<B extends RowBatch>(micro: B[], task: TrainTask<B>, params: Params): StepGradients {
  const total = totalUnits(micro, task)
  const variables = Object.values(params)
  return tidyStep(() => {
    let sum: StepGradients | null = null
    for (const batch of micro) {
      const part = weightedGradients(task, batch, task.units(batch) / total, variables)
      sum = sum === null ? part : addSteps(sum, part)
    }
    return sum!
  })
}

/**
 * Each micro-batch split by rows into one shard per thread: shard 0 here, the others on the
 * workers, all at once. The workers get the current weights first.
 */
export async function parallelGradients<B extends RowBatch>(micro: B[], task: TrainTask<B>, params: Params, pool: GradientWorkers): Promise<StepGradients> {
  pool.publish()
  const total = totalUnits(micro, task)
  const variables = Object.values(params)
  let sum: StepGradients | null = null
  try {
    for (const batch of micro) {
      const [mine, ...theirs] = splitBatch(batch, pool.size + 1, (b) => task.units(b))
      const remote = theirs.map((shard, i) => pool.compute(i, shard.batch, shard.units / total))
      // Should this thread's shard throw, the workers' outcomes are no longer awaited by anyone.
      for (const r of remote) r.catch(() => {})
      // While the workers run: this thread's shard.
      const local = tidyStep(() => weightedGradients(task, mine.batch, mine.units / total, variables))
      let values: ShardValues[]
      try {
        values = await Promise.all(remote)
      } catch (err) {
        disposeStep(local)
        throw err
      }
      const previous: StepGradients | null = sum
      sum = tidyStep(() => {
        const grads = addInto(local.grads, theirs.map((_, i) => pool.gradients(i)))
        const loss = tf.add(local.loss, values.reduce((a, v) => a + v.loss, 0)) as tf.Scalar
        const metrics: Record<string, tf.Scalar> = {}
        for (const [k, m] of Object.entries(local.metrics)) metrics[k] = tf.add(m, values.reduce((a, v) => a + (v.metrics[k] ?? 0), 0)) as tf.Scalar
        const part = { grads, loss, metrics }
        return previous ? addSteps(previous, part) : part
      })
      disposeStep(previous)
      disposeStep(local)
    }
    return sum!
  } catch (err) {
    disposeStep(sum)
    throw err
  }
}

/**
 * The gradient of weight * loss(batch) with respect to `variables`, with the weighted loss and
 * metrics (on this thread, and in every gradient worker). Call inside a tidy.
 */
export function weightedGradients<B extends RowBatch>(task: TrainTask<B>, batch: B, weight: number, variables: tf.Variable[]): StepGradients {
  // Metrics are not what variableGrads returns, so they are kept past its inner tidy, then handed
  // to the caller's tidy as ordinary tensors (clone, dispose the kept one).
  const kept: Record<string, tf.Scalar> = {}
  let result: { value: tf.Scalar; grads: Record<string, tf.Tensor> }
  try {
    result = tf.variableGrads(() => {
      const out = task.loss(batch)
      for (const [k, m] of Object.entries(out.metrics ?? {})) kept[k] = tf.keep(weight === 1 ? m : (tf.mul(m, weight) as tf.Scalar))
      return weight === 1 ? out.loss : (tf.mul(out.loss, weight) as tf.Scalar)
    }, variables)
  } catch (err) {
    tf.dispose(Object.values(kept))
    throw err
  }
  const metrics: Record<string, tf.Scalar> = {}
  for (const [k, m] of Object.entries(kept)) {
    metrics[k] = tf.clone(m)
    m.dispose()
  }
  return { grads: result.grads, loss: result.value, metrics }
}

function totalUnits<B extends RowBatch>(micro: B[], task: TrainTask<B>): number {
  const total = micro.reduce((n, b) => n + task.units(b), 0)
  if (!(total > 0)) throw new Error('no micro-batch of this step carries loss')
  return total
}

/** tf.tidy for a function returning StepGradients: the tensors in the returned object are kept. */
function tidyStep(fn: () => StepGradients): StepGradients {
  return tf.tidy(() => fn() as unknown as tf.TensorContainer) as unknown as StepGradients
}

export function disposeStep(step: StepGradients | null): void {
  if (step) tf.dispose([step.loss, ...Object.values(step.grads), ...Object.values(step.metrics)])
}

/** a + b, key by key (call inside a tidy). */
function addSteps(a: StepGradients, b: StepGradients): StepGradients {
  const metrics: Record<string, tf.Scalar> = {}
  for (const k of new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])) {
    metrics[k] = a.metrics[k] && b.metrics[k] ? (tf.add(a.metrics[k], b.metrics[k]) as tf.Scalar) : (a.metrics[k] ?? b.metrics[k])
  }
  return { grads: addInto(a.grads, [b.grads]), loss: tf.add(a.loss, b.loss) as tf.Scalar, metrics }
}

/** a[k] + b1[k] + b2[k] + ... for every key of a (call inside a tidy). */
function addInto(a: Record<string, tf.Tensor>, others: Record<string, tf.Tensor>[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {}
  for (const key of Object.keys(a)) out[key] = others.reduce((sum, o) => tf.add(sum, o[key]), a[key])
  return out
}
