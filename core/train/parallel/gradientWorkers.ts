// Data-parallel training on one machine: the pool of gradient worker threads.
//
// tfjs's wasm and cpu backends compute on one thread, so on a machine with N cores a training step
// would leave N-1 of them idle. Each gradient worker (gradientWorker.ts) is a thread with its own
// tfjs and a replica of the stage's task (its model and loss, built by the module the task names in
// its ReplicaSpec, since functions cannot cross threads). Per micro-batch the loop splits the rows into shards
// (shards.ts); the main thread computes the first shard's gradient while the workers compute the
// others, then the main thread sums them and applies clipping and AdamW as usual. Weights go to
// the workers, and gradients come back, through shared memory: one memcpy each way per step.
//
//   main:      publish weights -> post shards 1..W-1 -> grad(shard 0) -> await -> sum -> AdamW
//   worker i:                     load weights -> grad(shard i) -> write to its shared buffer
import { Worker } from 'node:worker_threads'
import { tf } from '../../backend/tf'
import type { ReplicaSpec, RowBatch } from '../task'
import type { ReadyMessage, ShardReply, ShardRequest, ShardValues, WeightSlot, WorkerInit } from './protocol'

const BOOT = new URL('./gradientWorker.boot.mjs', import.meta.url)
const FLOAT_BYTES = 4

interface Pending {
  resolve: (values: ShardValues) => void
  reject: (err: Error) => void
}

/** One worker thread with its shared gradient buffer and its request in flight. */
class GradientWorker {
  private pending: Pending | null = null
  private nextId = 0
  private failure: Error | null = null
  weightsStale = true

  constructor(
    readonly index: number,
    readonly thread: Worker,
    readonly grads: Float32Array,
  ) {
    thread.on('message', (msg: ShardReply) => this.settle(msg))
    thread.on('error', (err) => this.fail(new Error(`gradient worker ${index} failed: ${err.message}`)))
    thread.on('exit', (code) => this.fail(new Error(`gradient worker ${index} exited (code ${code})`)))
  }

  compute(batch: RowBatch, weight: number): Promise<ShardValues> {
    if (this.failure) return Promise.reject(this.failure)
    if (this.pending) return Promise.reject(new Error(`gradient worker ${this.index} is already busy`))
    const request: ShardRequest = { id: ++this.nextId, batch, weight, reloadWeights: this.weightsStale }
    this.weightsStale = false
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject }
      this.thread.postMessage(request)
    })
  }

  private settle(msg: ShardReply): void {
    const pending = this.pending
    this.pending = null
    if (!pending) return
    if ('error' in msg) pending.reject(new Error(`gradient worker ${this.index}: ${msg.error}`))
    else pending.resolve({ loss: msg.loss, metrics: msg.metrics })
  }

  fail(err: Error): void {
    this.failure ??= err
    const pending = this.pending
    this.pending = null
    pending?.reject(err)
  }
}

export class GradientWorkers {
  private closed = false

  private constructor(
    private readonly workers: GradientWorker[],
    /** Where each trainable parameter lives in the shared weights (the gradient buffers use `trainable`). */
    private readonly weightSlots: Map<string, WeightSlot>,
    private readonly trainable: WeightSlot[],
    private readonly sharedWeights: Float32Array,
    private readonly params: Record<string, tf.Variable>,
  ) {}

  /**
   * Starts `count` worker threads on `backend` (the main thread's), each building the replica
   * that `replica` names from a copy of its tensors. `params` are the trainable ones (a subset of
   * replica.tensors by name): their gradients come back, and they are published before every step.
   * Resolves when every replica is built.
   */
  static async start(replica: ReplicaSpec, params: Record<string, tf.Variable>, backend: string, count: number): Promise<GradientWorkers> {
    for (const name of Object.keys(params)) {
      if (!replica.tensors[name]) throw new Error(`gradient workers: trainable parameter ${name} is not among the replica's tensors`)
    }
    const layout = slotsOf(replica.tensors)
    const trainable = slotsOf(params)
    const floats = layout.reduce((n, slot) => n + slot.size, 0)
    const gradFloats = trainable.reduce((n, slot) => n + slot.size, 0)
    const sharedWeights = new Float32Array(new SharedArrayBuffer(floats * FLOAT_BYTES))
    for (const slot of layout) sharedWeights.set(replica.tensors[slot.name].dataSync() as Float32Array, slot.offset)
    const workers: GradientWorker[] = []
    const pool = new GradientWorkers(workers, new Map(layout.map((s) => [s.name, s])), trainable, sharedWeights, params)
    try {
      for (let i = 0; i < count; i++) {
        const grads = new SharedArrayBuffer(gradFloats * FLOAT_BYTES)
        const init: WorkerInit = {
          backend,
          module: replica.module,
          options: replica.options,
          layout,
          trainable,
          weights: sharedWeights.buffer as SharedArrayBuffer,
          grads,
        }
        const thread = new Worker(BOOT, { workerData: init })
        await waitUntilReady(thread, i)
        workers.push(new GradientWorker(i + 1, thread, new Float32Array(grads)))
      }
    } catch (err) {
      await pool.close()
      throw err
    }
    return pool
  }

  /** Worker threads (the main thread computes one more shard itself). */
  get size(): number {
    return this.workers.length
  }

  /** Copies the current trainable weights into shared memory; workers load them with their next shard. */
  publish(): void {
    for (const slot of this.trainable) {
      this.sharedWeights.set(this.params[slot.name].dataSync() as Float32Array, this.weightSlots.get(slot.name)!.offset)
    }
    for (const w of this.workers) w.weightsStale = true
  }

  /**
   * Starts worker i (0-based) on the gradient of weight * loss(batch); resolves with the weighted
   * loss and metrics once its gradients are in.
   */
  compute(i: number, batch: RowBatch, weight: number): Promise<ShardValues> {
    return this.workers[i].compute(batch, weight)
  }

  /**
   * Worker i's gradients of its last shard as tensors, keyed like tf.variableGrads keys them (by
   * the variables' own names). Call inside a tidy.
   */
  gradients(i: number): Record<string, tf.Tensor> {
    const grads = this.workers[i].grads
    const out: Record<string, tf.Tensor> = {}
    for (const slot of this.trainable) out[this.params[slot.name].name] = tf.tensor(grads.slice(slot.offset, slot.offset + slot.size), slot.shape, 'float32')
    return out
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const w of this.workers) w.fail(new Error(`gradient worker ${w.index} was closed`))
    await Promise.all(this.workers.map((w) => w.thread.terminate()))
  }
}

/** Every tensor's place in a flat shared buffer, in the map's own order. */
function slotsOf(tensors: Record<string, tf.Tensor>): WeightSlot[] {
  const layout: WeightSlot[] = []
  let offset = 0
  for (const [name, v] of Object.entries(tensors)) {
    layout.push({ name, shape: v.shape, offset, size: v.size })
    offset += v.size
  }
  return layout
}

function waitUntilReady(thread: Worker, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: ReadyMessage) => {
      if (!msg.ready) return
      cleanup()
      resolve()
    }
    const onError = (err: Error) => {
      cleanup()
      reject(new Error(`gradient worker ${index + 1} did not start: ${err.message}`))
    }
    const onExit = (code: number) => {
      cleanup()
      reject(new Error(`gradient worker ${index + 1} exited while starting (code ${code})`))
    }
    const cleanup = () => {
      thread.off('message', onMessage)
      thread.off('error', onError)
      thread.off('exit', onExit)
    }
    thread.on('message', onMessage)
    thread.on('error', onError)
    thread.on('exit', onExit)
  })
}
