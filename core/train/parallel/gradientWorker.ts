// A gradient worker thread: a replica of the stage's task that, per request, computes the gradient
// of weight * loss(shard) at the weights the main thread published in shared memory, and writes it
// into its own shared gradient buffer. The replica comes from the module the task named
// (ReplicaSpec.module, its `createReplica` export), so any loss a stage defines runs here. It holds
// no optimiser state: the main thread sums the gradients of all shards and applies the update.
// Started by gradientWorkers.ts.
import { parentPort, workerData } from 'node:worker_threads'
import { initBackend, type BackendPreference } from '../../backend'
import { tf } from '../../backend/tf'
import type { ReplicaFactory } from '../task'
import { disposeStep, weightedGradients, type StepGradients } from './dataParallel'
import type { ReadyMessage, ShardReply, ShardRequest, ShardValues, WeightSlot, WorkerInit } from './protocol'

const init = workerData as WorkerInit
const port = parentPort!
const sharedWeights = new Float32Array(init.weights)
const sharedGrads = new Float32Array(init.grads)

await initBackend(init.backend as BackendPreference)
const imported = (await import(init.module)) as { createReplica?: ReplicaFactory }
if (typeof imported.createReplica !== 'function') throw new Error(`${init.module} does not export createReplica, so gradient workers cannot build its task`)
const initialWeights: Record<string, tf.Tensor> = {}
for (const slot of init.layout) initialWeights[slot.name] = publishedTensor(slot)
const replica = imported.createReplica(init.options, initialWeights) // copies into its variables
tf.dispose(Object.values(initialWeights))
const weightSlots = new Map(init.layout.map((slot) => [slot.name, slot]))
const variables = init.trainable.map((slot) => {
  const v = replica.variables[slot.name]
  if (!v) throw new Error(`the replica built by ${init.module} has no variable ${slot.name}`)
  return v
})

/** A published tensor as a tensor (a copy: tfjs may keep the very array it is given). */
function publishedTensor(slot: WeightSlot): tf.Tensor {
  return tf.tensor(sharedWeights.slice(slot.offset, slot.offset + slot.size), slot.shape, 'float32')
}

/** Loads the trainable weights (the frozen ones never change). */
function loadPublishedWeights(): void {
  tf.tidy(() => {
    for (const [i, slot] of init.trainable.entries()) variables[i].assign(publishedTensor(weightSlots.get(slot.name)!))
  })
}

/** Computes the shard's weighted loss and metrics and writes its gradients into the shared buffer. */
function computeShard(req: ShardRequest): ShardValues {
  if (req.reloadWeights) loadPublishedWeights()
  const step = tf.tidy(() => weightedGradients(replica.task, req.batch, req.weight, variables) as unknown as tf.TensorContainer) as unknown as StepGradients
  try {
    for (const [i, slot] of init.trainable.entries()) {
      const grad = step.grads[variables[i].name]
      // A parameter this shard's loss does not reach has a zero gradient.
      if (grad) sharedGrads.set(grad.dataSync() as Float32Array, slot.offset)
      else sharedGrads.fill(0, slot.offset, slot.offset + slot.size)
    }
    const names = Object.keys(step.metrics)
    const stacked = tf.stack([step.loss, ...names.map((k) => step.metrics[k])]) // [1 + M]
    const values = stacked.dataSync()
    stacked.dispose()
    return { loss: values[0], metrics: Object.fromEntries(names.map((k, i) => [k, values[i + 1]])) }
  } finally {
    disposeStep(step)
  }
}

port.on('message', (req: ShardRequest) => {
  let reply: ShardReply
  try {
    reply = { id: req.id, ...computeShard(req) }
  } catch (err) {
    reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }
  }
  port.postMessage(reply)
})
port.postMessage({ ready: true } satisfies ReadyMessage)
