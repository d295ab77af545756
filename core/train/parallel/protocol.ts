// Messages between the training loop and its gradient worker threads (see gradientWorkers.ts).
import type { RowBatch } from '../task'

/** Where one tensor lives in a flat shared buffer (in floats). */
export interface WeightSlot {
  name: string
  shape: number[]
  offset: number
  size: number
}

/** workerData of a gradient worker. */
export interface WorkerInit {
  /** A BackendPreference: the same backend as the main thread. */
  backend: string
  /** ReplicaSpec.module and .options: the worker imports the module and builds its replica. */
  module: string
  options: unknown
  /** Every tensor of the replica in `weights` (trainable and frozen). */
  layout: WeightSlot[]
  /** The trainable tensors in `grads` (their offsets are into the gradient buffer). */
  trainable: WeightSlot[]
  /** Shared: the current weights, written by the main thread (trainable ones before each step). */
  weights: SharedArrayBuffer
  /** Shared: this worker's gradients, written by the worker, read by the main thread. */
  grads: SharedArrayBuffer
}

/** Main -> worker: the gradient of weight * loss(batch) at the published weights. */
export interface ShardRequest {
  id: number
  /** Plain typed arrays and numbers: structured-cloned as they are. */
  batch: RowBatch
  weight: number
  /** True when the weights changed since this worker's last request. */
  reloadWeights: boolean
}

/** Weighted loss and metrics of one shard. */
export interface ShardValues {
  loss: number
  metrics: Record<string, number>
}

/** Worker -> main: the weighted values (gradients are in the shared buffer), or why it failed. */
export type ShardReply = ({ id: number } & ShardValues) | { id: number; error: string }

/** Worker -> main once its model is built. */
export interface ReadyMessage {
  ready: true
}
