// What a stage hands the training loop: its loss, as a "task". The loop (loop.ts) owns the
// optimiser, schedule, guard, logging, checkpoints and resume; the task says what one batch costs.
// Pretraining and SFT use the language-model task (languageModel.ts); a reward model, rejection
// sampling, distillation or GAtt each supply their own.
//
// Gradient workers (parallel/) run the loss on other threads, where functions cannot be sent. So a
// task that wants them also names a module the worker imports itself (`replica.module`, whose
// `createReplica` export builds the same task on a copy of the model), and its batches are plain
// objects of typed arrays split by rows (RowBatch), which cross threads as they are.
import { tf } from '../backend/tf'

/**
 * Any batch the loop can train on: `batchSize` rows, every typed-array field holding the same
 * number of values per row (row-major), other fields (numbers such as seqLen) the same for all rows.
 * Such a batch splits by rows (batches.ts sliceRows) and posts to a worker thread unchanged.
 */
export interface RowBatch {
  batchSize: number
}

/** A loss and, optionally, scalar metrics to log beside it (e.g. a reward model's accuracy). */
export interface LossOutput {
  /** Mean over the batch's trained units (so shards and micro-batches combine weighted by units). */
  loss: tf.Scalar
  /** Means over the same units; logged as train/<name>. */
  metrics?: Record<string, tf.Scalar>
}

export interface TrainTask<B extends RowBatch> {
  /** Builds its tensors from the batch and returns the loss; called inside tf.variableGrads / tidy. */
  loss(batch: B): LossOutput
  /** Trained units in a batch: tokens that carry loss (LM), pairs (reward model). Weights the loss. */
  units(batch: B): number
  /** Units counted for speed and `<unit>_seen` (default: `units`); an LM counts every token it processes. */
  processed?(batch: B): number
  /** What the units are called in metric names: train/<unit>_per_s, train/<unit>_seen. Default 'tokens'. */
  unit?: string
  /** Why a batch cannot be trained on, or null (checked after the generic row check). */
  check?(batch: B): string | null
  /** How a gradient worker builds its own copy; absent: the task trains on one thread. */
  replica?: ReplicaSpec
}

/** Enough for a worker thread to rebuild a task: see ReplicaFactory. */
export interface ReplicaSpec {
  /** URL of a module exporting `createReplica: ReplicaFactory` (the task file's import.meta.url). */
  module: string
  /** Structured-cloneable input for the factory besides tensors (e.g. the LlamaConfig). */
  options: unknown
  /**
   * Every tensor the replica reads, by name: the trainable parameters and any frozen ones (the
   * trunk under a head-only run, a reference model). Copied to each worker once at start; the
   * trainable ones again before every step.
   */
  tensors: Record<string, tf.Tensor>
}

/** What a replica module exports as `createReplica`. The tensors are the caller's (it disposes them). */
export type ReplicaFactory = (options: unknown, tensors: Record<string, tf.Tensor>) => Replica

export interface Replica {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the worker never looks inside a batch
  task: TrainTask<any>
  /** The replica's variables by the names of ReplicaSpec.tensors (at least the trainable ones). */
  variables: Record<string, tf.Variable>
  dispose(): void
}

/** The generic batch problems: a typed array whose length is not a whole number of rows. */
export function checkRows(batch: RowBatch): string | null {
  if (!Number.isInteger(batch.batchSize) || batch.batchSize < 1) return `batchSize must be a positive integer, got ${batch.batchSize}`
  for (const [name, value] of Object.entries(batch)) {
    if (ArrayBuffer.isView(value) && (value as unknown as ArrayLike<number>).length % batch.batchSize !== 0) {
      return `${name} has ${(value as unknown as ArrayLike<number>).length} values, not a multiple of the ${batch.batchSize} rows`
    }
  }
  return null
}

/** Why the loop cannot train on this batch, or null. */
export function batchProblem<B extends RowBatch>(task: TrainTask<B>, batch: B): string | null {
  const problem = checkRows(batch) ?? task.check?.(batch) ?? null
  if (problem !== null) return problem
  return task.units(batch) > 0 ? null : 'nothing in the batch carries loss'
}

/**
 * The task's loss and metrics over fixed batches, without gradients: means weighted by units, so
 * a batch with few trained tokens counts for less than a full one. `units` is their total.
 */
export async function evaluateTask<B extends RowBatch>(batches: B[], task: TrainTask<B>): Promise<{ loss: number; units: number; metrics: Record<string, number> }> {
  let units = 0
  let lossSum = 0
  const metricSums: Record<string, number> = {}
  for (const batch of batches) {
    const n = task.units(batch)
    if (n === 0) continue
    const names: string[] = []
    const values = tf.tidy(() => {
      const out = task.loss(batch)
      names.push(...Object.keys(out.metrics ?? {}))
      return tf.stack([out.loss, ...names.map((k) => out.metrics![k])]) // [1 + M]
    })
    const read = await values.data()
    values.dispose()
    lossSum += read[0] * n
    names.forEach((k, i) => (metricSums[k] = (metricSums[k] ?? 0) + read[i + 1] * n))
    units += n
  }
  if (units === 0) throw new Error('evaluation set has nothing that carries loss')
  const metrics = Object.fromEntries(Object.entries(metricSums).map(([k, v]) => [k, v / units]))
  return { loss: lossSum / units, units, metrics }
}
