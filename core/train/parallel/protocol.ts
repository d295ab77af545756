// Messages between the training loop and its gradient worker threads (see gradientWorkers.ts).
import type { LlamaConfig } from '../../model/config'

/** Where one weight lives in the shared weight and gradient buffers (in floats). */
export interface WeightSlot {
  name: string
  shape: number[]
  offset: number
  size: number
}

/** workerData of a gradient worker. */
export interface WorkerInit {
  config: LlamaConfig
  /** A BackendPreference: the same backend as the main thread. */
  backend: string
  layout: WeightSlot[]
  /** Shared: the current weights, written by the main thread before each step. */
  weights: SharedArrayBuffer
  /** Shared: this worker's gradients, written by the worker, read by the main thread. */
  grads: SharedArrayBuffer
}

/** Main -> worker: the gradient of weight * loss(shard) at the published weights. */
export interface ShardRequest {
  id: number
  tokens: Int32Array
  targets: Int32Array
  mask?: Float32Array
  batchSize: number
  seqLen: number
  weight: number
  /** True when the weights changed since this worker's last request. */
  reloadWeights: boolean
}

/** Worker -> main: the weighted loss (gradients are in the shared buffer), or why it failed. */
export type ShardReply = { id: number; loss: number } | { id: number; error: string }

/** Worker -> main once its model is built. */
export interface ReadyMessage {
  ready: true
}
