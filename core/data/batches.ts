// Batches for the supervised loop: rows of inputs, targets (inputs shifted by one) and a loss
// mask, row-major [B, T], in an order that is seeded, reshuffled every epoch, and resumable from a
// small serialisable cursor, so a resumed run sees exactly the batches it would have seen.

import type { TokenWindows } from './corpus'
import type { SftExample } from './sft'
import { mulberry32 } from '../util/random'

export interface Batch {
  /** [B, T] input ids, row-major. */
  tokens: Int32Array
  /** [B, T] next-token targets: targets[b, t] = the token after tokens[b, t]. */
  targets: Int32Array
  /** [B, T] 1 where the target is learned, 0 for prompt tokens and padding. */
  mask: Float32Array
  batchSize: number
  seqLen: number
}

/** Where the iterator is: the next batch is batch `index` of epoch `epoch`. */
export interface BatchCursor {
  epoch: number
  index: number
}

/** Anything that can write item i into row `row` of a batch. */
export interface BatchSource {
  readonly size: number
  readonly seqLen: number
  fillRow(item: number, batch: Batch, row: number): void
}

/** Pretraining windows: every target is learned. */
export function windowSource(windows: TokenWindows): BatchSource {
  const seqLen = windows.windowLength - 1
  return {
    size: windows.starts.length,
    seqLen,
    fillRow(item, batch, row) {
      const start = windows.starts[item]
      const offset = row * seqLen
      batch.tokens.set(windows.tokens.subarray(start, start + seqLen), offset)
      batch.targets.set(windows.tokens.subarray(start + 1, start + seqLen + 1), offset)
      batch.mask.fill(1, offset, offset + seqLen)
    },
  }
}

/** SFT examples, right-padded with `padId`; padding and non-assistant targets have mask 0. */
export function sftSource(examples: SftExample[], seqLen: number, padId: number): BatchSource {
  for (const ex of examples) {
    if (ex.tokens.length > seqLen + 1) throw new Error(`sftSource: ${ex.source} has ${ex.tokens.length} tokens, more than seq_len + 1 = ${seqLen + 1}`)
  }
  return {
    size: examples.length,
    seqLen,
    fillRow(item, batch, row) {
      const ex = examples[item]
      const offset = row * seqLen
      const n = ex.tokens.length - 1 // number of (input, target) pairs
      batch.tokens.fill(padId, offset, offset + seqLen)
      batch.targets.fill(padId, offset, offset + seqLen)
      batch.mask.fill(0, offset, offset + seqLen)
      batch.tokens.set(ex.tokens.subarray(0, n), offset)
      batch.targets.set(ex.tokens.subarray(1, n + 1), offset)
      for (let t = 0; t < n; t++) batch.mask[offset + t] = ex.lossMask[t + 1]
    },
  }
}

export interface BatchIteratorOptions {
  batchSize: number
  seed: number
  /** Default true; false keeps the source order every epoch. */
  shuffle?: boolean
  /** Resume here (from a checkpoint's `cursor`). */
  cursor?: BatchCursor
}

/**
 * Endless batches over a source. Each epoch visits the items in a permutation seeded by
 * (seed, epoch); an epoch has ceil(size / B) batches, and the last one wraps to the start of the
 * same permutation to fill up, so every batch is full.
 */
export class BatchIterator {
  readonly batchSize: number
  readonly batchesPerEpoch: number
  private epoch: number
  private index: number
  private order: Int32Array
  private orderEpoch = -1

  constructor(
    private readonly source: BatchSource,
    private readonly opts: BatchIteratorOptions,
  ) {
    if (source.size === 0) throw new Error('BatchIterator: the data has no items')
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`BatchIterator: batch_size must be a positive integer, got ${opts.batchSize}`)
    this.batchSize = opts.batchSize
    this.batchesPerEpoch = Math.ceil(source.size / opts.batchSize)
    const cursor = opts.cursor ?? { epoch: 0, index: 0 }
    if (!Number.isInteger(cursor.epoch) || cursor.epoch < 0 || !Number.isInteger(cursor.index) || cursor.index < 0 || cursor.index >= this.batchesPerEpoch) {
      throw new Error(`BatchIterator: cursor ${JSON.stringify(cursor)} is outside the data (${this.batchesPerEpoch} batches per epoch)`)
    }
    this.epoch = cursor.epoch
    this.index = cursor.index
    this.order = new Int32Array(0)
  }

  /** The position of the next batch; save it with a checkpoint to resume. */
  get cursor(): BatchCursor {
    return { epoch: this.epoch, index: this.index }
  }

  next(): Batch {
    const order = this.orderFor(this.epoch)
    const batch = emptyBatch(this.batchSize, this.source.seqLen)
    for (let row = 0; row < this.batchSize; row++) {
      const item = order[(this.index * this.batchSize + row) % order.length]
      this.source.fillRow(item, batch, row)
    }
    this.index++
    if (this.index === this.batchesPerEpoch) {
      this.epoch++
      this.index = 0
    }
    return batch
  }

  private orderFor(epoch: number): Int32Array {
    if (this.orderEpoch !== epoch) {
      this.order = this.opts.shuffle === false ? identity(this.source.size) : seededPermutation(this.source.size, this.opts.seed, epoch)
      this.orderEpoch = epoch
    }
    return this.order
  }
}

/** Every item once, in order, for evaluation; the last batch may be smaller. */
export function* sequentialBatches(source: BatchSource, batchSize: number): Generator<Batch> {
  for (let start = 0; start < source.size; start += batchSize) {
    const rows = Math.min(batchSize, source.size - start)
    const batch = emptyBatch(rows, source.seqLen)
    for (let row = 0; row < rows; row++) source.fillRow(start + row, batch, row)
    yield batch
  }
}

function emptyBatch(batchSize: number, seqLen: number): Batch {
  const n = batchSize * seqLen
  return { tokens: new Int32Array(n), targets: new Int32Array(n), mask: new Float32Array(n), batchSize, seqLen }
}

function identity(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i)
}

/** Fisher-Yates with a small seeded generator (mulberry32) keyed by (seed, epoch). */
export function seededPermutation(n: number, seed: number, epoch: number): Int32Array {
  const order = identity(n)
  const random = mulberry32(mixSeeds(seed, epoch))
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = order[i]
    order[i] = order[j]
    order[j] = tmp
  }
  return order
}

function mixSeeds(seed: number, epoch: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

