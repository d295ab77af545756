// Validation loss and perplexity of a language model over a fixed list of batches: the LM stages'
// evaluation in the training loop. The mean is weighted by the number of tokens that carry loss,
// so a batch with few assistant tokens counts for less than a full one.
import type { Batch } from '../train/batches'
import { evaluateTask, type TrainTask } from '../train/task'

export interface PerplexityResult {
  /** Mean cross-entropy per trained token (nats). */
  loss: number
  /** exp(loss). */
  perplexity: number
  tokens: number
}

/** Evaluates the task's loss (a mean over the batch's trained tokens) on each batch, without gradients. */
export async function evaluatePerplexity(batches: Batch[], task: TrainTask<Batch>): Promise<PerplexityResult> {
  const { loss, units } = await evaluateTask(batches, task)
  return { loss, perplexity: Math.exp(loss), tokens: units }
}

/** The loop's `evaluate` for an LM stage (eval/loss, eval/perplexity); undefined without batches. */
export function perplexityEvaluation(batches: Batch[], task: TrainTask<Batch>): (() => Promise<Record<string, number>>) | undefined {
  if (batches.length === 0) return undefined
  return async () => {
    const { loss, perplexity } = await evaluatePerplexity(batches, task)
    return { loss, perplexity }
  }
}
