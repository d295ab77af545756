// Splitting one micro-batch across threads (data parallelism) without changing the update.
//
// A task's loss is a mean over its trained units (tokens that carry loss, pairs, ...). A step's
// micro-batches, split by rows into shards s with n_s units each (N = the sum over the whole step),
// have the loss of one big batch:
//     loss = sum_s (n_s / N) * meanLoss_s
// so each thread differentiates (n_s / N) * meanLoss_s on its rows and the gradients simply add.
import { sliceRows } from '../batches'
import type { RowBatch } from '../task'

export interface Shard<B extends RowBatch> {
  batch: B
  /** n_s: the shard's trained units. */
  units: number
}

/**
 * At most `parts` contiguous row ranges of `batch` (sizes differ by at most one row), each with its
 * units. Shards without a trained unit are left out: their gradient is zero.
 */
export function splitBatch<B extends RowBatch>(batch: B, parts: number, unitsOf: (b: B) => number): Shard<B>[] {
  const count = Math.max(1, Math.min(parts, batch.batchSize))
  const shards: Shard<B>[] = []
  let row = 0
  for (let i = 0; i < count; i++) {
    const rows = Math.floor(batch.batchSize / count) + (i < batch.batchSize % count ? 1 : 0)
    const part = sliceRows(batch, row, rows)
    row += rows
    const units = unitsOf(part)
    if (units > 0) shards.push({ batch: part, units })
  }
  if (shards.length === 0) throw new Error('splitBatch: nothing in the batch carries loss')
  return shards
}
