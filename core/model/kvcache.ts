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
//
// Storage: with a `capacity`, on backends whose tensor memory JavaScript can write (wasm heap, cpu
// arrays) and whose matmul reads that memory afresh each call, each layer's keys and values live in
// one preallocated [B, Hkv, capacity, hd] buffer, and a step writes its new column in place:
// attention then runs over all `capacity` columns, the unwritten ones hidden by the causal mask
// (they lie in every query's future). Otherwise each step concatenates along time, which copies
// the whole cache (measured: 10-20% of a decoding step at batch 32, bench/generate.ts).
import { tf } from '../backend/tf'
import { nativeMatMulActive } from '../backend/kernels/nativeMatMul'
import type { LlamaConfig } from './config'

interface WasmBackendLike {
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values: Float32Array } }
}

/**
 * True when tensors of the current backend can be written in place safely: the cpu backend, and
 * wasm with the native matmul (the wasm XNNPACK matmul caches packed operands by tensor id, so it
 * could read stale values of a buffer changed behind its back).
 */
function canWriteInPlace(): boolean {
  const backend = tf.getBackend()
  return backend === 'cpu' || (backend === 'wasm' && nativeMatMulActive())
}

/** The float32 memory behind `t`, for writing in place (only where canWriteInPlace()). */
function memoryOf(t: tf.Tensor): Float32Array {
  const backend = tf.backend()
  if (tf.getBackend() === 'wasm') return (backend as unknown as WasmBackendLike).typedArrayFromHeap(t)
  return (backend as unknown as CpuBackendLike).data.get(t.dataId).values
}

export class KVCache {
  private readonly keys: (tf.Tensor4D | null)[]
  private readonly values: (tf.Tensor4D | null)[]
  /** Number of columns already stored (the next token's column). */
  length = 0
  /** Left padding of each row: row b's first real token is at column padding[b]. */
  private rowPadding: number[]
  /** Columns of the preallocated buffers; null when the cache grows by concatenation. */
  private capacity: number | null

  /**
   * `capacity`: the most columns this cache will hold (prompt + new tokens). Given, and where the
   * backend allows it, the buffers are preallocated and written in place (see the top of the file).
   */
  constructor(
    readonly config: LlamaConfig,
    batch: number,
    padding?: number[],
    capacity?: number,
  ) {
    if (padding && padding.length !== batch) throw new Error(`KVCache: ${padding.length} padding entries for a batch of ${batch}`)
    this.rowPadding = padding ? [...padding] : new Array(batch).fill(0)
    this.capacity = capacity !== undefined && canWriteInPlace() ? capacity : null
    this.keys = new Array(config.n_layers).fill(null)
    this.values = new Array(config.n_layers).fill(null)
  }

  /** Key columns attention sees after appending `seq` new ones: the buffer's width when preallocated. */
  keyColumns(seq: number): number {
    return this.capacity ?? this.length + seq
  }

  /** Rows in the cache (shrinks when keepRows drops finished ones). */
  get batch(): number {
    return this.rowPadding.length
  }

  get padding(): readonly number[] {
    return this.rowPadding
  }

  /** True when the layers' keys and values live in preallocated buffers written in place (a capacity was given and the backend allows it). */
  get inPlace(): boolean {
    return this.capacity !== null
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
   * Appends this chunk's keys and values [B, Hkv, T, hd] of one layer at column `length`, and
   * returns the layer's keys and values to attend to, [B, Hkv, keyColumns(T), hd]. Called inside the
   * model's tidy: the stored tensors are kept (tf.keep), replaced ones freed here.
   */
  append(layer: number, k: tf.Tensor4D, v: tf.Tensor4D): { k: tf.Tensor4D; v: tf.Tensor4D } {
    if (k.shape[0] !== this.batch) throw new Error(`KVCache: batch ${k.shape[0]} does not match the cache's batch ${this.batch}`)
    if (this.capacity !== null) {
      if (this.length + k.shape[2] > this.capacity) {
        throw new Error(`KVCache: ${this.length + k.shape[2]} columns exceed the capacity ${this.capacity} it was created with`)
      }
      return { k: this.writeColumns(this.keys, layer, k), v: this.writeColumns(this.values, layer, v) }
    }
    const past = this.get(layer)
    const fullK = past ? tf.concat([past.k, k], 2) : k // [B, Hkv, past+T, hd]
    const fullV = past ? tf.concat([past.v, v], 2) : v
    this.keys[layer]?.dispose()
    this.values[layer]?.dispose()
    this.keys[layer] = tf.keep(fullK)
    this.values[layer] = tf.keep(fullV)
    return { k: fullK, v: fullV }
  }

  /** Copies `chunk` [B, Hkv, T, hd] into the layer's buffer at column `length`, allocating it first. */
  private writeColumns(store: (tf.Tensor4D | null)[], layer: number, chunk: tf.Tensor4D): tf.Tensor4D {
    const [batch, heads, seq, hd] = chunk.shape
    const buffer = (store[layer] ??= tf.keep(tf.zeros<tf.Rank.R4>([batch, heads, this.capacity!, hd]))) // [B, Hkv, C, hd]
    // Views fetched after any allocation: growing the wasm heap detaches older views.
    const from = memoryOf(chunk)
    const to = memoryOf(buffer)
    for (let row = 0; row < batch * heads; row++) {
      to.set(from.subarray(row * seq * hd, (row + 1) * seq * hd), (row * this.capacity! + this.length) * hd)
    }
    return buffer
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
        if (trim === 0) return kept
        const trimmed = tf.slice(kept, [0, 0, trim, 0], [-1, -1, -1, -1]) // [B', Hkv, T - trim, hd]
        // A preallocated buffer keeps its width: the rows still growing need the columns freed here.
        return this.capacity === null ? trimmed : tf.pad(trimmed, [[0, 0], [0, 0], [0, trim], [0, 0]])
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
