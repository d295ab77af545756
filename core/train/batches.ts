// Batches for the training loop: the generic stream and row slicing (any RowBatch), and the
// language-model batch with its conversion to tensors. Data readers (core/data) produce these as
// flat typed arrays; the loss turns them into tensors inside the step's tidy.
import { tf } from '../backend/tf'
import { BatchIterator, type BatchCursor, type BatchSource as DataSource } from '../data'
import type { RowBatch } from './task'

/** A language-model micro-batch: B sequences of T tokens, row-major. */
export interface Batch {
  tokens: Int32Array // [B*T]
  targets: Int32Array // [B*T] (next tokens)
  /** 1 where the target carries loss, 0 elsewhere (SFT: assistant tokens only). Absent = all 1. */
  mask?: Float32Array // [B*T]
  batchSize: number
  seqLen: number
}

/**
 * Where training batches come from. `cursor` is a plain JSON value that, passed back to
 * `restore`, makes `next()` continue with exactly the batch that would have come next.
 */
export interface BatchStream<B extends RowBatch = Batch> {
  /** The next micro-batch, or null when the data is exhausted (finite sources only). */
  next(): B | null
  cursor(): unknown
  restore(cursor: unknown): void
}

export interface BatchTensors {
  tokens: tf.Tensor2D // [B, T] int32
  targets: tf.Tensor2D // [B, T] int32
  mask?: tf.Tensor2D // [B, T] float32
}

/**
 * Rows [start, start + rows) of any row batch: every typed array is cut to those rows (views, not
 * copies), other fields are kept as they are.
 */
export function sliceRows<B extends RowBatch>(batch: B, start: number, rows: number): B {
  const out: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(batch)) {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const array = value as unknown as Int32Array // any typed array; subarray is common to all
      const perRow = array.length / batch.batchSize
      out[name] = array.subarray(start * perRow, (start + rows) * perRow)
    } else {
      out[name] = value
    }
  }
  out.batchSize = rows
  return out as B
}

/** Creates the tensors of a batch; call inside a tidy so they are freed with the step. */
export function batchTensors(batch: Batch): BatchTensors {
  const shape: [number, number] = [batch.batchSize, batch.seqLen]
  return {
    tokens: tf.tensor2d(batch.tokens, shape, 'int32'),
    targets: tf.tensor2d(batch.targets, shape, 'int32'),
    mask: batch.mask ? tf.tensor2d(batch.mask, shape, 'float32') : undefined,
  }
}

/** Number of tokens that carry loss in a batch. */
export function trainableTokens(batch: Batch): number {
  if (!batch.mask) return batch.batchSize * batch.seqLen
  let count = 0
  for (const m of batch.mask) if (m > 0) count++
  return count
}

/** Checks the arrays agree with the declared shape; a mismatch is a bug in the reader, said plainly. */
export function checkBatch(batch: Batch): string | null {
  const n = batch.batchSize * batch.seqLen
  if (batch.tokens.length !== n) return `tokens has ${batch.tokens.length} values, expected ${batch.batchSize}x${batch.seqLen}`
  if (batch.targets.length !== n) return `targets has ${batch.targets.length} values, expected ${n}`
  if (batch.mask && batch.mask.length !== n) return `mask has ${batch.mask.length} values, expected ${n}`
  if (trainableTokens(batch) === 0) return 'no token in the batch carries loss (the mask is all zero)'
  return null
}

/** Endless, seeded, reshuffled-every-epoch batches over a core/data source, resumable by cursor. */
export function shuffledBatches(source: DataSource, batchSize: number, seed: number): BatchStream {
  let iterator = new BatchIterator(source, { batchSize, seed })
  return {
    next: () => iterator.next(),
    cursor: () => iterator.cursor,
    restore: (cursor) => {
      iterator = new BatchIterator(source, { batchSize, seed, cursor: cursor as BatchCursor })
    },
  }
}
