// Text generation: greedy (temperature 0) or sampling with temperature, top-k and top-p, stop
// tokens, a per-token callback for streaming, an AbortSignal, and a seed that makes sampling
// reproducible (our own PRNG, not Math.random). Uses the KV cache unless told not to.
import { tf } from '../backend/tf'
import { mulberry32 } from '../util/random'
import { KVCache } from './kvcache'
import type { Llama } from './llama'

export interface GenerateOptions {
  maxNewTokens: number
  /** 0 = greedy. Default 1. */
  temperature?: number
  /** Keep only the k most likely tokens (0 or absent = all). */
  topK?: number
  /** Keep the smallest set of tokens whose probability reaches p (1 or absent = all). */
  topP?: number
  /** Generation ends when one of these is produced; it is not included in `ids`. */
  stopIds?: number[]
  seed?: number
  onToken?: (id: number) => void
  /** Default true. Without the cache every step recomputes the whole sequence. */
  useCache?: boolean
  signal?: AbortSignal
}

export interface GenerateResult {
  /** The new tokens only (not the prompt, not the stop token). */
  ids: number[]
  /** 'length' also covers reaching the model's max_seq_len. */
  stoppedBy: 'stop' | 'length' | 'abort'
}

export interface SamplingOptions {
  temperature?: number
  topK?: number
  topP?: number
}

/** Picks the next token from one row of logits. `rand` gives uniform floats in [0, 1). */
export function sampleFromLogits(logits: Float32Array, opts: SamplingOptions, rand: () => number): number {
  const temperature = opts.temperature ?? 1
  if (temperature < 0) throw new Error(`temperature must be >= 0, got ${temperature}`)
  if (temperature === 0) return argmax(logits)
  // Candidates sorted by logit, most likely first (ties keep the lower id first, deterministic).
  let order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b)
  const topK = opts.topK ?? 0
  if (topK < 0 || !Number.isInteger(topK)) throw new Error(`topK must be a non-negative integer, got ${topK}`)
  if (topK > 0) order = order.slice(0, topK)
  const maxLogit = logits[order[0]]
  let probs = order.map((id) => Math.exp((logits[id] - maxLogit) / temperature))
  let total = probs.reduce((a, b) => a + b, 0)
  const topP = opts.topP ?? 1
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`)
  if (topP < 1) {
    // Keep tokens until their cumulative probability reaches topP (at least one token).
    let cumulative = 0
    let keep = 0
    while (keep < order.length && (keep === 0 || cumulative < topP * total)) cumulative += probs[keep++]
    order = order.slice(0, keep)
    probs = probs.slice(0, keep)
    total = cumulative
  }
  let u = rand() * total
  for (let i = 0; i < order.length; i++) {
    u -= probs[i]
    if (u < 0) return order[i]
  }
  return order[order.length - 1]
}

function argmax(values: Float32Array): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i
  return best
}

/** Logits of the last position for `ids`, read back as a typed array. */
function lastLogits(model: Llama, ids: number[], cache?: KVCache): Float32Array {
  const row = tf.tidy(() => {
    const logits = model.logits(tf.tensor2d([ids], [1, ids.length], 'int32'), cache) // [1, T, V]
    const last = ids.length === 1 ? logits : tf.slice(logits, [0, ids.length - 1, 0], [1, 1, -1])
    return tf.reshape(last, [-1]) // [V]
  })
  const values = row.dataSync() as Float32Array
  row.dispose()
  return values
}

export async function generate(model: Llama, promptIds: number[], opts: GenerateOptions): Promise<GenerateResult> {
  if (promptIds.length === 0) throw new Error('generate: the prompt is empty (give at least a BOS token)')
  const maxSeq = model.config.max_seq_len
  if (promptIds.length > maxSeq) throw new Error(`generate: prompt of ${promptIds.length} tokens exceeds max_seq_len ${maxSeq}`)
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 0)) {
    throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${opts.maxNewTokens}`)
  }
  const rand = mulberry32(opts.seed ?? 0)
  const stop = new Set(opts.stopIds ?? [])
  const useCache = opts.useCache ?? true
  const cache = useCache ? new KVCache(model.config, 1) : undefined
  const sequence = [...promptIds]
  const ids: number[] = []
  try {
    let logits = lastLogits(model, sequence, cache)
    while (true) {
      if (opts.signal?.aborted) return { ids, stoppedBy: 'abort' }
      if (ids.length >= opts.maxNewTokens) return { ids, stoppedBy: 'length' }
      const next = sampleFromLogits(logits, opts, rand)
      if (stop.has(next)) return { ids, stoppedBy: 'stop' }
      ids.push(next)
      sequence.push(next)
      opts.onToken?.(next)
      if (sequence.length >= maxSeq) return { ids, stoppedBy: 'length' }
      // Let timers and abort events run between tokens.
      await new Promise((resolve) => setImmediate(resolve))
      logits = cache ? lastLogits(model, [next], cache) : lastLogits(model, sequence)
    }
  } finally {
    cache?.dispose()
  }
}
