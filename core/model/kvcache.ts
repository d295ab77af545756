// Keys and values of every layer for incremental decoding, for a batch of rows. With grouped-query
// attention the cache holds only the n_kv_heads key/value heads ([B, n_kv_heads, T, head_dim]),
// which is the point of GQA: a smaller cache, so longer contexts and bigger batches fit.
//
// Rows of different lengths are LEFT-padded: every row writes its next token into the same
// column, so one step appends one column for the whole batch. Row b's real tokens start at column
// `padding[b]`; the model masks the padding columns out of attention and gives each row its own
// rotary positions (column - padding), so a padded row computes what it would compute alone.
// Finished rows are dropped with keepRows(), which gathers the live rows and trims padding
// columns that no live row needs any more.
import { tf } from '../backend/tf'
import type { LlamaConfig } from './config'

export class KVCache {
  private readonly keys: (tf.Tensor4D | null)[]
  private readonly values: (tf.Tensor4D | null)[]
  /** Number of columns already stored (the next token's column). */
  length = 0
  /** Left padding of each row: row b's first real token is at column padding[b]. */
  private rowPadding: number[]

  constructor(
    readonly config: LlamaConfig,
    batch: number,
    padding?: number[],
  ) {
    if (padding && padding.length !== batch) throw new Error(`KVCache: ${padding.length} padding entries for a batch of ${batch}`)
    this.rowPadding = padding ? [...padding] : new Array(batch).fill(0)
    this.keys = new Array(config.n_layers).fill(null)
    this.values = new Array(config.n_layers).fill(null)
  }

  /** Rows in the cache (shrinks when keepRows drops finished ones). */
  get batch(): number {
    return this.rowPadding.length
  }

  get padding(): readonly number[] {
    return this.rowPadding
  }

  /** True when some row starts after column 0 (the model then needs per-row masks and positions). */
  get padded(): boolean {
    return this.rowPadding.some((p) => p > 0)
  }

  /** Rotary position of each row's next `seq` columns, row-major [B*seq] (padding columns get 0). */
  positionIds(seq: number): Int32Array {
    const ids = new Int32Array(this.batch * seq)
    this.rowPadding.forEach((pad, b) => {
      for (let i = 0; i < seq; i++) ids[b * seq + i] = Math.max(0, this.length + i - pad)
    })
    return ids
  }

  /** Cached keys/values of one layer, [B, n_kv_heads, length, head_dim], or null when empty. */
  get(layer: number): { k: tf.Tensor4D; v: tf.Tensor4D } | null {
    const k = this.keys[layer]
    const v = this.values[layer]
    return k && v ? { k, v } : null
  }

  /**
   * Replaces one layer's entry with the full (old + new) keys and values. Called inside the model's
   * tidy: tf.keep lets the new tensors outlive it, and the old ones are freed here.
   */
  set(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): void {
    if (k.shape[0] !== this.batch) throw new Error(`KVCache: batch ${k.shape[0]} does not match the cache's batch ${this.batch}`)
    this.keys[layer]?.dispose()
    this.values[layer]?.dispose()
    this.keys[layer] = tf.keep(k)
    this.values[layer] = tf.keep(v)
  }

  /** Called by the model once all layers have been updated for `newTokens` columns. */
  advance(newTokens: number): void {
    this.length += newTokens
  }

  /**
   * Keeps only `rows` (indices into the current batch, in the order given) and drops the leading
   * columns that are padding for every kept row: one gather (and at most one slice) per layer.
   */
  keepRows(rows: number[]): void {
    if (rows.length === 0) throw new Error('KVCache.keepRows: keep at least one row (dispose the cache instead)')
    for (const r of rows) {
      if (!(Number.isInteger(r) && r >= 0 && r < this.batch)) throw new Error(`KVCache.keepRows: row ${r} is not in a batch of ${this.batch}`)
    }
    const padding = rows.map((r) => this.rowPadding[r])
    const trim = Math.min(...padding)
    const unchanged = trim === 0 && rows.length === this.batch && rows.every((r, i) => r === i)
    if (unchanged) return
    const sameRows = rows.length === this.batch && rows.every((r, i) => r === i)
    const select = (t: tf.Tensor4D | null): tf.Tensor4D | null => {
      if (!t) return null
      const next = tf.tidy(() => {
        const kept = sameRows ? t : (tf.gather(t, tf.tensor1d(rows, 'int32'), 0) as tf.Tensor4D) // [B', Hkv, T, hd]
        return trim > 0 ? tf.slice(kept, [0, 0, trim, 0], [-1, -1, -1, -1]) : kept // [B', Hkv, T - trim, hd]
      })
      t.dispose()
      return next
    }
    for (let layer = 0; layer < this.keys.length; layer++) {
      this.keys[layer] = select(this.keys[layer])
      this.values[layer] = select(this.values[layer])
    }
    this.rowPadding = padding.map((p) => p - trim)
    this.length -= trim
  }

  dispose(): void {
    for (let i = 0; i < this.keys.length; i++) {
      this.keys[i]?.dispose()
      this.values[i]?.dispose()
      this.keys[i] = null
      this.values[i] = null
    }
    this.length = 0
  }
}
