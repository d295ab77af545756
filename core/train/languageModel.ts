// The language-model task (pretraining, SFT): mean next-token cross-entropy over the tokens that
// carry loss. Its units are those tokens, so micro-batches and shards with more assistant tokens
// weigh more, exactly as in one big batch. Speed counts every token processed (padding included),
// as it always has.
import type { LlamaConfig } from '../model/config'
import { Llama } from '../model/llama'
import { batchTensors, checkBatch, trainableTokens, type Batch } from './batches'
import type { ReplicaFactory, TrainTask } from './task'

export function languageModelTask(model: Llama): TrainTask<Batch> {
  return {
    loss: (batch) => {
      const t = batchTensors(batch)
      return { loss: model.loss(t.tokens, t.targets, t.mask) }
    },
    units: trainableTokens,
    processed: (batch) => batch.batchSize * batch.seqLen,
    check: checkBatch,
    replica: { module: import.meta.url, options: model.config, tensors: model.weights },
  }
}

/** A gradient worker's copy: the model from the published weights, and the same task on it. */
export const createReplica: ReplicaFactory = (options, tensors) => {
  const model = Llama.fromWeights(options as LlamaConfig, tensors)
  return { task: languageModelTask(model), variables: model.weights, dispose: () => model.dispose() }
}
