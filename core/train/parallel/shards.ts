// Splitting one micro-batch across threads (data parallelism) without changing the update.
//
// The loss of a batch is the mean over its trainable tokens. Split by rows into shards s with
// n_s trainable tokens each (n = sum of n_s), that mean is
//     loss = sum_s (n_s / n) * meanLoss_s
// so each thread differentiates weight_s * meanLoss_s on its rows and the gradients simply add.
import type { Batch } from '../batches'
import { trainableTokens } from '../batches'

export interface Shard {
  batch: Batch
  /** n_s / n: this shard's share of the batch's trainable tokens. */
  weight: number
}

/**
 * At most `parts` contiguous row ranges of `batch` (sizes differ by at most one row), each with its
 * weight. Shards without a trainable token are left out: their gradient is zero.
 */
export function splitBatch(batch: Batch, parts: number): Shard[] {
  const total = trainableTokens(batch)
  if (total === 0) throw new Error('splitBatch: no token in the batch carries loss')
  const count = Math.max(1, Math.min(parts, batch.batchSize))
  const shards: Shard[] = []
  let row = 0
  for (let i = 0; i < count; i++) {
    const rows = Math.floor(batch.batchSize / count) + (i < batch.batchSize % count ? 1 : 0)
    const part = sliceRows(batch, row, rows)
    row += rows
    const tokens = trainableTokens(part)
    if (tokens > 0) shards.push({ batch: part, weight: tokens / total })
  }
  return shards
}

/** Rows [start, start + rows) of a batch; the typed arrays are views, not copies. */
function sliceRows(batch: Batch, start: number, rows: number): Batch {
  const from = start * batch.seqLen
  const to = (start + rows) * batch.seqLen
  return {
    tokens: batch.tokens.subarray(from, to),
    targets: batch.targets.subarray(from, to),
    mask: batch.mask?.subarray(from, to),
    batchSize: rows,
    seqLen: batch.seqLen,
  }
}
