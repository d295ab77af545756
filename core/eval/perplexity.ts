// Validation loss and perplexity over a fixed list of batches. The mean is weighted by the number
// of tokens that carry loss, so a batch with few assistant tokens counts for less than a full one.
import { tf } from '../backend/tf'
import { batchTensors, trainableTokens, type Batch, type BatchTensors } from '../train/batches'

export interface PerplexityResult {
  /** Mean cross-entropy per trained token (nats). */
  loss: number
  /** exp(loss). */
  perplexity: number
  tokens: number
}

/** Evaluates `lossOf` (a mean over the batch's trained tokens) on each batch, without gradients. */
export function evaluatePerplexity(batches: Batch[], lossOf: (t: BatchTensors) => tf.Scalar): PerplexityResult {
  let weightedSum = 0
  let tokens = 0
  for (const batch of batches) {
    const n = trainableTokens(batch)
    if (n === 0) continue
    const lossTensor = tf.tidy(() => lossOf(batchTensors(batch)))
    const value = lossTensor.dataSync()[0]
    lossTensor.dispose()
    weightedSum += value * n
    tokens += n
  }
  if (tokens === 0) throw new Error('evaluation set has no token that carries loss')
  const loss = weightedSum / tokens
  return { loss, perplexity: Math.exp(loss), tokens }
}
