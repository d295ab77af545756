// Keys and values of every layer for incremental decoding. With grouped-query attention the cache
// holds only the n_kv_heads key/value heads ([B, n_kv_heads, T, head_dim]), which is the point of GQA:
// a smaller cache, so longer contexts and bigger batches fit.
import { tf } from '../backend/tf'
import type { LlamaConfig } from './config'

export class KVCache {
  private readonly keys: (tf.Tensor4D | null)[]
  private readonly values: (tf.Tensor4D | null)[]
  /** Number of positions already stored (the next token's position). */
  length = 0

  constructor(
    readonly config: LlamaConfig,
    readonly batch: number,
  ) {
    this.keys = new Array(config.n_layers).fill(null)
    this.values = new Array(config.n_layers).fill(null)
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

  /** Called by the model once all layers have been updated for `newTokens` positions. */
  advance(newTokens: number): void {
    this.length += newTokens
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
