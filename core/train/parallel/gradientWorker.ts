// A gradient worker thread: a replica of the model that, per request, computes the gradient of
// weight * loss(shard) at the weights the main thread published in shared memory, and writes it
// into its own shared gradient buffer. It holds no optimiser state: the main thread sums the
// gradients of all shards and applies the update. Started by gradientWorkers.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { initBackend, type BackendPreference } from '../../backend'
import { tf } from '../../backend/tf'
import { Llama } from '../../model/llama'
import { batchTensors } from '../batches'
import type { ReadyMessage, ShardReply, ShardRequest, WorkerInit } from './protocol'

const init = workerData as WorkerInit
const port = parentPort!
const sharedWeights = new Float32Array(init.weights)
const sharedGrads = new Float32Array(init.grads)

await initBackend(init.backend as BackendPreference)
const initialWeights = publishedTensors()
const model = Llama.fromWeights(init.config, initialWeights) // copies into its variables
tf.dispose(Object.values(initialWeights))
const variables = init.layout.map((slot) => model.weights[slot.name])

/** The published weights as tensors (copies: tfjs may keep the very array it is given). */
function publishedTensors(): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {}
  for (const slot of init.layout) out[slot.name] = publishedTensor(slot)
  return out
}

function publishedTensor(slot: WorkerInit['layout'][number]): tf.Tensor {
  return tf.tensor(sharedWeights.slice(slot.offset, slot.offset + slot.size), slot.shape, 'float32')
}

function loadPublishedWeights(): void {
  tf.tidy(() => {
    for (const [i, slot] of init.layout.entries()) {
      variables[i].assign(publishedTensor(slot))
    }
  })
}

/** Computes the shard's weighted loss and writes its gradients into the shared buffer. */
function computeShard(req: ShardRequest): number {
  if (req.reloadWeights) loadPublishedWeights()
  const { value, grads } = tf.tidy(() => {
    const t = batchTensors(req)
    return tf.variableGrads(() => tf.mul(model.loss(t.tokens, t.targets, t.mask), req.weight) as tf.Scalar, variables)
  })
  try {
    for (const [i, slot] of init.layout.entries()) {
      sharedGrads.set(grads[variables[i].name].dataSync() as Float32Array, slot.offset)
    }
    return value.dataSync()[0]
  } finally {
    tf.dispose([value, ...Object.values(grads)])
  }
}

port.on('message', (req: ShardRequest) => {
  let reply: ShardReply
  try {
    reply = { id: req.id, loss: computeShard(req) }
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
  }
  port.postMessage(reply)
})
port.postMessage({ ready: true } satisfies ReadyMessage)
