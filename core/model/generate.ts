// Text generation for a batch of prompts: greedy (temperature 0) or sampling with temperature,
// top-k and top-p, per-row stop tokens and token budgets, a per-token callback for streaming, an
// AbortSignal, and a seed that makes sampling reproducible (our own PRNG, not Math.random).
//
// The batch shares one KV cache. Prompts of different lengths are left-padded; the model masks the
// padding and gives each row its own positions (kvcache.ts), so each row generates what it would
// generate alone. Rows that finish are dropped from the batch (the cache gathers the live rows).
// Each step reads the whole batch's next-token logits to the host once, then samples every row.
import { tf } from '../backend/tf'
import { mulberry32 } from '../util/random'
import { KVCache } from './kvcache'
import type { Llama } from './llama'
import { logSumExpRows } from './kernels/targetLogProbs'

export interface SamplingOptions {
  /** 0 = greedy. Default 1. */
  temperature?: number
  /** Keep only the k most likely tokens (0 or absent = all). */
  topK?: number
  /** Keep the smallest set of tokens whose probability reaches p (1 or absent = all). */
  topP?: number
}

export interface BatchGenerateOptions extends SamplingOptions {
  /** New tokens per row at most: one budget for every row, or one per row. */
  maxNewTokens: number | number[]
  /** A row ends when it produces one of these; the stop token is not included in its `ids`. */
  stopIds?: number[]
  /**
   * Row b samples with the PRNG stream of `seed + b` (default seed 0), so row b's tokens are those
   * of `generate(model, prompts[b], { seed: seed + b })`.
   */
  seed?: number
  /** One seed per row instead (row b samples with `seeds[b]`), e.g. PPO's per-prompt seeds. */
  seeds?: number[]
  /** Called for every new token of every row, in row order within a step. */
  onToken?: (row: number, id: number) => void
  /** Default true. Without the cache every step recomputes every live row's whole sequence. */
  useCache?: boolean
  signal?: AbortSignal
}

export interface BatchRowResult {
  /** The new tokens only (not the prompt, not the stop token). */
  ids: number[]
  /**
   * log p(ids[t]) under softmax(logits / temperature), the distribution before top-k / top-p
   * filtering: what TRL's PPOTrainer records for its rollouts (`logits /= temperature + 1e-7;
   * log_softmax; gather`), so a PPO loss recomputed at the same temperature gives ratio 1 on the
   * first epoch. With greedy decoding (temperature 0) this is the temperature-1 value.
   */
  logprobs: number[]
  /** log p(ids[t]) under the model itself, softmax(logits) at temperature 1 (for a KL to a reference). */
  modelLogprobs: number[]
  /** 'length' also covers reaching the model's max_seq_len. */
  stoppedBy: 'stop' | 'length' | 'abort'
}

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number
  /** Generation ends when one of these is produced; it is not included in `ids`. */
  stopIds?: number[]
  seed?: number
  onToken?: (id: number) => void
  /** Default true. Without the cache every step recomputes the whole sequence. */
  useCache?: boolean
  signal?: AbortSignal
}

export type GenerateResult = BatchRowResult

/** One prompt, streaming through `onToken`: generateBatch with a batch of one. */
export async function generate(model: Llama, promptIds: number[], opts: GenerateOptions): Promise<GenerateResult> {
  const { onToken, ...rest } = opts
  const [row] = await generateBatch(model, [promptIds], { ...rest, onToken: onToken && ((_row, id) => onToken(id)) })
  return row
}

/** One row of the batch while it is live. */
interface LiveRow {
  /** Index into the prompts (and the results). */
  index: number
  sequence: number[]
  maxNew: number
  rand: () => number
  result: BatchRowResult
}

export async function generateBatch(model: Llama, prompts: number[][], opts: BatchGenerateOptions): Promise<BatchRowResult[]> {
  const maxSeq = model.config.max_seq_len
  const budgets = checkBatchOptions(prompts, opts, maxSeq)
  const seed = opts.seed ?? 0
  const stop = new Set(opts.stopIds ?? [])
  const useCache = opts.useCache ?? true
  const results: BatchRowResult[] = prompts.map(() => ({ ids: [], logprobs: [], modelLogprobs: [], stoppedBy: 'length' }))
  let live: LiveRow[] = prompts
    .map((p, index) => ({ index, sequence: [...p], maxNew: budgets[index], rand: mulberry32(opts.seeds?.[index] ?? seed + index), result: results[index] }))
    .filter((row) => row.maxNew > 0)
  if (live.length === 0) return results
  const vocab = model.config.vocab_size
  const temperature = opts.temperature ?? 1
  // Columns the cache may need: the longest prompt plus the largest budget, within max_seq_len
  // (rows stop there, and dropping rows only ever removes columns).
  const capacity = Math.min(maxSeq, Math.max(...live.map((r) => r.sequence.length)) + Math.max(...live.map((r) => r.maxNew)))
  const cache = useCache ? prefillCache(model, live.map((r) => r.sequence), capacity) : null
  let logits = withLogSumExp(cache ? cache.logits : recomputeLogits(model, live.map((r) => r.sequence)), temperature)
  try {
    while (true) {
      if (opts.signal?.aborted) {
        for (const row of live) row.result.stoppedBy = 'abort'
        break
      }
      const values = await readAndDispose(logits) // [B * (V + 2)], one read per step for the whole batch
      const next: number[] = []
      const kept: number[] = []
      live.forEach((row, i) => {
        const offset = i * (vocab + 2)
        const rowLogits = values.subarray(offset, offset + vocab)
        const id = sampleFromLogits(rowLogits, opts, row.rand)
        if (stop.has(id)) {
          row.result.stoppedBy = 'stop'
          return
        }
        const [logprob, modelLogprob] = tokenLogProbs(rowLogits[id], values[offset + vocab], values[offset + vocab + 1], temperature)
        row.result.ids.push(id)
        row.result.logprobs.push(logprob)
        row.result.modelLogprobs.push(modelLogprob)
        row.sequence.push(id)
        opts.onToken?.(row.index, id)
        // 'length' either way: the row's budget, or the model's context is full.
        if (row.result.ids.length >= row.maxNew || row.sequence.length >= maxSeq) return
        next.push(id)
        kept.push(i)
      })
      live = kept.map((i) => live[i])
      if (live.length === 0) break
      if (cache && kept.length < cache.cache.batch) cache.cache.keepRows(kept)
      // Let timers and abort events run between steps.
      await new Promise((resolve) => setImmediate(resolve))
      logits = withLogSumExp(cache ? decodeStep(model, next, cache.cache) : recomputeLogits(model, live.map((r) => r.sequence)), temperature)
    }
  } finally {
    if (!logits.isDisposed) logits.dispose()
    cache?.cache.dispose()
  }
  return results
}

/** Validates the prompts and options; returns each row's budget of new tokens. */
function checkBatchOptions(prompts: number[][], opts: BatchGenerateOptions, maxSeq: number): number[] {
  if (prompts.length === 0) throw new Error('generate: no prompts given')
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new Error(`generate: the prompt is empty (row ${b}; give at least a BOS token)`)
    if (p.length > maxSeq) throw new Error(`generate: prompt of ${p.length} tokens (row ${b}) exceeds max_seq_len ${maxSeq}`)
  })
  const budgets = Array.isArray(opts.maxNewTokens) ? opts.maxNewTokens : prompts.map(() => opts.maxNewTokens as number)
  if (budgets.length !== prompts.length) throw new Error(`generate: ${budgets.length} maxNewTokens entries for ${prompts.length} prompts`)
  for (const n of budgets) {
    if (!(Number.isInteger(n) && n >= 0)) throw new Error(`generate: maxNewTokens must be a non-negative integer, got ${n}`)
  }
  checkSamplingOptions(opts)
  return budgets
}

/** Left-pads the sequences into one [B, T] matrix; returns it with each row's padding. */
function leftPad(sequences: number[][]): { tokens: tf.Tensor2D; padding: number[] } {
  const width = Math.max(...sequences.map((s) => s.length))
  const data = new Int32Array(sequences.length * width) // padding columns hold token 0, masked anyway
  const padding = sequences.map((s, b) => {
    data.set(s, b * width + width - s.length)
    return width - s.length
  })
  return { tokens: tf.tensor2d(data, [sequences.length, width], 'int32'), padding }
}

/** A cache holding the prompts, and the logits of each row's next token [B, V]. */
function prefillCache(model: Llama, sequences: number[][], capacity?: number): { cache: KVCache; logits: tf.Tensor2D } {
  const { tokens, padding } = leftPad(sequences)
  const cache = new KVCache(model.config, sequences.length, padding, capacity)
  try {
    return { cache, logits: model.nextTokenLogits(tokens, cache) }
  } finally {
    tokens.dispose()
  }
}

/** Appends one token per row to the cache; returns the logits of the next ones [B, V]. */
function decodeStep(model: Llama, tokens: number[], cache: KVCache): tf.Tensor2D {
  return tf.tidy(() => model.nextTokenLogits(tf.tensor2d(Int32Array.from(tokens), [tokens.length, 1], 'int32'), cache))
}

/** Next-token logits [B, V] computed from the whole sequences (no cache kept between steps). */
function recomputeLogits(model: Llama, sequences: number[][]): tf.Tensor2D {
  const { cache, logits } = prefillCache(model, sequences)
  cache.dispose()
  return logits
}

/**
 * [B, V] logits -> [B, V + 2]: each row followed by its log-sum-exp at temperature 1 and at
 * `temperature` (1 when greedy), so that log-probabilities need no pass over the vocabulary on
 * the host. Frees `logits`.
 */
function withLogSumExp(logits: tf.Tensor2D, temperature: number): tf.Tensor2D {
  const out = tf.tidy(() => {
    const t = temperature === 0 ? 1 : temperature
    const lse = logSumExpRows(logits) // [B, 1]
    const lseAtT = t === 1 ? lse : logSumExpRows(tf.div(logits, t) as tf.Tensor2D)
    return tf.concat([logits, lse, lseAtT], 1) as tf.Tensor2D
  })
  logits.dispose()
  return out
}

/**
 * The tensor's values on the host, after which the tensor is freed. Asynchronous: on WebGPU a
 * synchronous read goes through a canvas, is slow, and returned zeros on Chromium's software adapter.
 */
async function readAndDispose(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array
  } finally {
    t.dispose()
  }
}

// ---------------------------------------------------------------------------------------------
// Sampling on the host, one row of logits at a time

function checkSamplingOptions(opts: SamplingOptions): void {
  const temperature = opts.temperature ?? 1
  if (!(temperature >= 0)) throw new Error(`temperature must be >= 0, got ${temperature}`)
  const topK = opts.topK ?? 0
  if (topK < 0 || !Number.isInteger(topK)) throw new Error(`topK must be a non-negative integer, got ${topK}`)
  const topP = opts.topP ?? 1
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`)
}

/**
 * Picks the next token from one row of logits. `rand` gives uniform floats in [0, 1). Without top-k
 * and top-p no sort is needed: the draw walks the tokens in id order. With them, candidates are
 * ordered most likely first (ties: lower id first), so the cut is deterministic.
 */
export function sampleFromLogits(logits: Float32Array, opts: SamplingOptions, rand: () => number): number {
  checkSamplingOptions(opts)
  const temperature = opts.temperature ?? 1
  if (temperature === 0) return argmax(logits)
  const topK = opts.topK ?? 0
  const topP = opts.topP ?? 1
  let order: number[] | null = null // null = every id, in id order
  if (topK > 0 && topK < logits.length) order = topKIds(logits, topK)
  else if (topP < 1) order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b)
  const count = order ? order.length : logits.length
  const idAt = (i: number) => (order ? order[i] : i)
  const maxLogit = order ? logits[order[0]] : logits[argmax(logits)]
  const probs = new Float64Array(count)
  let total = 0
  for (let i = 0; i < count; i++) total += probs[i] = Math.exp((logits[idAt(i)] - maxLogit) / temperature)
  let keep = count
  if (topP < 1) {
    // Keep tokens until their cumulative probability reaches topP (at least one token).
    let cumulative = 0
    keep = 0
    while (keep < count && (keep === 0 || cumulative < topP * total)) cumulative += probs[keep++]
    total = cumulative
  }
  let u = rand() * total
  for (let i = 0; i < keep; i++) {
    u -= probs[i]
    if (u < 0) return idAt(i)
  }
  return idAt(keep - 1)
}

/** The k ids with the largest logits, largest first (ties: lower id first), without a full sort. */
function topKIds(logits: Float32Array, k: number): number[] {
  const best: number[] = [] // sorted, most likely first
  const before = (a: number, b: number) => logits[a] > logits[b] || (logits[a] === logits[b] && a < b)
  for (let id = 0; id < logits.length; id++) {
    if (best.length === k) {
      if (!before(id, best[k - 1])) continue
      best.pop()
    }
    // Insertion into the sorted list.
    let at = best.length
    best.push(id)
    while (at > 0 && before(id, best[at - 1])) {
      best[at] = best[at - 1]
      at--
    }
    best[at] = id
  }
  return best
}

function argmax(values: Float32Array): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i
  return best
}

/**
 * [log softmax(logits / t)[id], log softmax(logits)[id]] from the token's logit and the row's
 * log-sum-exps at temperature 1 and at t (t = temperature, 1 when greedy).
 */
function tokenLogProbs(logit: number, logSumExp: number, logSumExpAtT: number, temperature: number): [number, number] {
  const t = temperature === 0 ? 1 : temperature
  return [logit / t - logSumExpAtT, logit - logSumExp]
}
