// The reward model's training task (Llama 2 section 3.2.2): the trunk plus the scalar
// `score.weight` head scores the chosen and the rejected answer of each pair at its last real
// token, and the binary ranking loss with a margin is
//     L = -log sigmoid(r_chosen - r_rejected - m(rating))
// computed as softplus(-(r_c - r_r - m)), stable for any value (tf.logSigmoid fails inside
// tf.variableGrads here), plus, with a centering coefficient c > 0, c * mean((r_c + r_r)^2)
// (TRL's center_rewards_coefficient, Eisenstein et al. 2023). The ranking loss only sees score
// differences, so without it the scores' offset is whatever training left; Llama 2's reward rule
// compares sigmoid(R_safety) with an absolute 0.15, which only means something on centred scores.
// Its units are pairs. Gradient workers build the same task from this
// module (createReplica).
import { tf } from '../backend/tf'
import type { LlamaConfig } from '../model/config'
import { ScalarHead } from '../model/heads'
import { Llama } from '../model/llama'
import type { ReplicaFactory, TrainTask } from './task'

/**
 * B preference pairs, each side right-padded to T tokens, row-major. *Last: the index of each
 * row's last real token (where the head reads); margin: m(rating) of each pair.
 */
export interface RewardBatch {
  chosen: Int32Array // [B*T]
  rejected: Int32Array // [B*T]
  chosenLast: Int32Array // [B]
  rejectedLast: Int32Array // [B]
  margin: Float32Array // [B]
  batchSize: number
  seqLen: number
}

/** softplus(x) = log(1 + exp(x)) = relu(x) + log(1 + exp(-|x|)), stable for any x. */
export function stableSoftplus(x: tf.Tensor): tf.Tensor {
  return tf.add(tf.relu(x), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(x))))))
}

/** Per-pair ranking loss -log sigmoid(rChosen - rRejected - margin), [B]. */
export function rankingLoss(rChosen: tf.Tensor1D, rRejected: tf.Tensor1D, margin: tf.Tensor1D): tf.Tensor1D {
  return stableSoftplus(tf.neg(tf.sub(tf.sub(rChosen, rRejected), margin))) as tf.Tensor1D
}

/** Scores of both sides of every pair, [B] each. */
export function scorePairs(model: Llama, head: ScalarHead, batch: RewardBatch): { chosen: tf.Tensor1D; rejected: tf.Tensor1D } {
  const { batchSize: b, seqLen: t } = batch
  const tokens = tf.concat([tf.tensor2d(batch.chosen, [b, t], 'int32'), tf.tensor2d(batch.rejected, [b, t], 'int32')], 0) // [2B, T]
  const last = [...Array.from(batch.chosenLast), ...Array.from(batch.rejectedLast)]
  const scores = head.atPositions(model.hidden(tokens as tf.Tensor2D), last) // [2B]
  return { chosen: tf.slice(scores, 0, b), rejected: tf.slice(scores, b, b) }
}

/** c * mean((rChosen + rRejected)^2): pulls the mean score of a pair's two answers to 0, a scalar. */
export function centeringLoss(rChosen: tf.Tensor1D, rRejected: tf.Tensor1D, coefficient: number): tf.Scalar {
  return tf.mul(coefficient, tf.mean(tf.square(tf.add(rChosen, rRejected)))) as tf.Scalar
}

export interface RewardTaskOptions {
  /** Weight of the centering term (0: none). */
  centerCoef?: number
}

export function rewardTask(model: Llama, head: ScalarHead, opts: RewardTaskOptions = {}): TrainTask<RewardBatch> {
  const centerCoef = opts.centerCoef ?? 0
  return {
    loss: (batch) => {
      const { chosen, rejected } = scorePairs(model, head, batch)
      const margin = tf.tensor1d(batch.margin, 'float32') // [B]
      const nll = rankingLoss(chosen, rejected, margin) // [B]
      const ranking = tf.mean(nll) as tf.Scalar
      return {
        loss: centerCoef > 0 ? (tf.add(ranking, centeringLoss(chosen, rejected, centerCoef)) as tf.Scalar) : ranking,
        metrics: { accuracy: tf.mean(tf.cast(tf.greater(chosen, rejected), 'float32')) as tf.Scalar },
      }
    },
    units: (batch) => batch.batchSize,
    unit: 'pairs',
    replica: { module: import.meta.url, options: { config: model.config, centerCoef }, tensors: { ...model.weights, [head.weightName]: head.weight } },
  }
}

export const createReplica: ReplicaFactory = (options, tensors) => {
  const { config, centerCoef } = options as { config: LlamaConfig; centerCoef: number }
  const { ['score.weight']: score, ...trunk } = tensors
  const model = Llama.fromWeights(config, trunk)
  const head = ScalarHead.fromWeight('reward', score)
  return {
    task: rewardTask(model, head, { centerCoef }),
    variables: { ...model.weights, [head.weightName]: head.weight },
    dispose: () => {
      model.dispose()
      head.dispose()
    },
  }
}
