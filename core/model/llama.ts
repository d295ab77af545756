// The Llama 2 decoder: RMSNorm, rotary embeddings (Hugging Face rotate_half layout), grouped-query
// attention, SwiGLU, no biases. Explicit variables named exactly as Hugging Face LlamaForCausalLM,
// so weights map 1:1 to model.safetensors, and small functions readable top to bottom.
//
// Activations are kept 2-D ([B*T, D]) wherever possible, because tfjs-wasm's fast matmul path only
// takes 2-D matmuls without transpose flags (see kernels/linear.ts).
import { rmsNorm } from './kernels/rmsNorm'
import { swigluGate } from './kernels/swiglu'
import { tf } from '../backend/tf'
import { headDim, resolveModelConfig, type LlamaConfig } from './config'
import type { KVCache } from './kvcache'
import { batchMatMul } from './kernels/batchMatMul'
import { gatherRows } from './kernels/gatherRows'
import { linear } from './kernels/linear'
import { recomputed } from './kernels/recompute'
import type { LoraAdapters } from './lora'
import { mulberry32, normalArray } from '../util/random'
import { targetLogProbs } from './kernels/targetLogProbs'
import { maskedSoftmax } from './kernels/maskedSoftmax'
import { rope } from './kernels/rope'
import { nativeOpsActive } from '../backend/kernels/nativeOps'
import { causalAttentionFused, decodeAttentionFused, fusedAttentionActive, fusedDecodeAttentionActive } from './kernels/causalAttention'
import { fusedBlockActive, transformerBlockFused } from './kernels/block'

const INIT_STD = 0.02
/** Added to masked attention scores; exp() of it underflows to exactly 0 in float32. */
const MASKED = -1e9

/** Hugging Face names and shapes of every weight of a LlamaForCausalLM with this config. */
export function weightShapes(cfg: LlamaConfig): Record<string, [number] | [number, number]> {
  const kvDim = cfg.n_kv_heads * headDim(cfg)
  const shapes: Record<string, [number] | [number, number]> = { 'model.embed_tokens.weight': [cfg.vocab_size, cfg.dim] }
  for (let i = 0; i < cfg.n_layers; i++) {
    const p = `model.layers.${i}`
    shapes[`${p}.input_layernorm.weight`] = [cfg.dim]
    shapes[`${p}.self_attn.q_proj.weight`] = [cfg.dim, cfg.dim]
    shapes[`${p}.self_attn.k_proj.weight`] = [kvDim, cfg.dim]
    shapes[`${p}.self_attn.v_proj.weight`] = [kvDim, cfg.dim]
    shapes[`${p}.self_attn.o_proj.weight`] = [cfg.dim, cfg.dim]
    shapes[`${p}.post_attention_layernorm.weight`] = [cfg.dim]
    shapes[`${p}.mlp.gate_proj.weight`] = [cfg.hidden_dim, cfg.dim]
    shapes[`${p}.mlp.up_proj.weight`] = [cfg.hidden_dim, cfg.dim]
    shapes[`${p}.mlp.down_proj.weight`] = [cfg.dim, cfg.hidden_dim]
  }
  shapes['model.norm.weight'] = [cfg.dim]
  if (!cfg.tie_embeddings) shapes['lm_head.weight'] = [cfg.vocab_size, cfg.dim]
  return shapes
}

// ---------------------------------------------------------------------------------------------
// The building blocks

/** x / rms(x) * weight over the last axis (fused natively where it can be). x: [N, D], weight: [D]. */
export { rmsNorm }

/**
 * Rotary position embedding in Hugging Face's rotate_half layout (kernels/rope.ts: fused natively
 * where it can be). x: [B*T, H*hd]; pos.cos, pos.sin: [1 or B, T, 1, hd] for this chunk's positions.
 */
export function applyRope(x: tf.Tensor2D, pos: Positions, nHeads: number): tf.Tensor2D {
  const hd = pos.cos.shape[3]
  if (x.shape[1] !== nHeads * hd) throw new Error(`applyRope: x has ${x.shape[1]} columns, expected ${nHeads} heads x ${hd}`)
  return rope(x, pos.cos, pos.sin, pos.rotateHalf)
}

/** What every layer needs about this chunk's positions, computed once per forward pass. */
export interface Positions {
  batch: number
  seq: number
  startPos: number
  cos: tf.Tensor4D // [1, T, 1, hd], or [B, T, 1, hd] when rows have their own positions (padded batch)
  sin: tf.Tensor4D // like cos
  rotateHalf: tf.Tensor2D // [hd, hd]
  /**
   * [rep*T, Tk], or [B, rep*T, Tk] for a padded batch; null when nothing is masked, or when the
   * fused causal kernels take the attention (fusedCausal), which mask by construction.
   */
  mask: tf.Tensor2D | tf.Tensor3D | null
  /**
   * A whole chunk without a KV cache (training, evaluation, scoring) with the fused causal
   * attention on: every layer's attention is the fused kernel (or the whole fused block), and no
   * mask is built. Building the [rep*T, T] mask in JavaScript every forward pass cost ~40 ms a
   * step at sequence 1,024, a sixth of the step, for kernels that never read it.
   */
  fusedCausal: boolean
  /** cos and sin stacked, [1 or B, 2, 1, hd], when decoding one token per row (else null). */
  cosSin: tf.Tensor4D | null
  /** True with a KV cache: matmuls then use the cached transposed weights (see weightPair). */
  decoding: boolean
  /** One token per row against a preallocated cache, attention as one native kernel (no mask built). */
  fusedDecode: boolean
}

/** A weight [out, in] and, optionally, its cached transpose (see kernels/linear.ts). */
export type WeightPair = [tf.Tensor2D, tf.Tensor2D | undefined]

/** silu(x @ gate^T) * (x @ up^T) @ down^T. x: [N, D]. */
export function swiglu(x: tf.Tensor2D, gate: WeightPair, up: WeightPair, down: WeightPair): tf.Tensor2D {
  const g = linear(x, ...gate) // [N, hidden]
  const u = linear(x, ...up) // [N, hidden]
  return linear(swigluGate(g, u), ...down) // [N, D]
}

/**
 * Grouped-query heads without copying keys: query head h uses key/value head floor(h / rep)
 * (Hugging Face's repeat_kv order), so the rep query heads of one KV head are stacked along the
 * time axis and attend to that single KV head: [B, Hkv, rep*T, hd] @ [B, Hkv, hd, Tk].
 * Returns q: [B*Hkv, rep*T, hd] from q2d [B*T, H*hd].
 */
export function groupQueries(q: tf.Tensor2D, batch: number, seq: number, nHeads: number, nKvHeads: number, hd: number): tf.Tensor3D {
  return tf.reshape(toHeads(q, batch, seq, nHeads, hd), [batch * nKvHeads, (nHeads / nKvHeads) * seq, hd])
}

/** The reverse of groupQueries for the attention output: [B*Hkv, rep*T, hd] -> [B*T, H*hd]. */
export function ungroupHeads(o: tf.Tensor3D, batch: number, seq: number, nHeads: number, hd: number): tf.Tensor2D {
  const byHead = tf.reshape(o, [batch, nHeads, seq, hd]) // [B, H, T, hd]
  // With one position per row, [B, H, 1, hd] and [B, 1, H, hd] have the same layout: no copy.
  const byTime = seq === 1 ? byHead : tf.transpose(byHead, [0, 2, 1, 3]) // [B, T, H, hd]
  return tf.reshape(byTime, [batch * seq, nHeads * hd])
}

/** [B*T, H*hd] -> [B, H, T, hd]; a reshape only (no copy) when T is 1, as when decoding. */
function toHeads(x: tf.Tensor2D, batch: number, seq: number, nHeads: number, hd: number): tf.Tensor4D {
  if (seq === 1) return tf.reshape(x, [batch, nHeads, 1, hd])
  return tf.transpose(tf.reshape(x, [batch, seq, nHeads, hd]), [0, 2, 1, 3])
}

/**
 * Additive causal mask [rep*T, Tk]: query i (absolute position startPos+i) sees key j (absolute
 * position keyStart+j) when keyStart+j <= startPos+i. Repeated rep times for the grouped queries.
 * With `padding` (a left-padded batch, one entry per row) it is [B, rep*T, Tk] and row b's keys
 * before column padding[b] are masked too.
 */
export function causalMask(seq: number, keys: number, startPos: number, keyStart: number, rep: number): tf.Tensor2D
export function causalMask(seq: number, keys: number, startPos: number, keyStart: number, rep: number, padding: readonly number[]): tf.Tensor3D
export function causalMask(seq: number, keys: number, startPos: number, keyStart: number, rep: number, padding?: readonly number[]): tf.Tensor2D | tf.Tensor3D {
  const rows = padding ?? [0]
  const perRow = rep * seq * keys
  const mask = new Float32Array(rows.length * perRow)
  const clamp = (j: number) => Math.min(Math.max(j, 0), keys)
  rows.forEach((pad, b) => {
    for (let r = 0; r < rep; r++) {
      for (let i = 0; i < seq; i++) {
        const row = b * perRow + (r * seq + i) * keys
        // Masked: columns before the padding ends (keyStart + j < pad) and after the query's own
        // position (keyStart + j > startPos + i); two fills per row, not a test per element.
        mask.fill(MASKED, row, row + clamp(pad - keyStart))
        mask.fill(MASKED, row + clamp(startPos + i + 1 - keyStart), row + keys)
      }
    }
  })
  return padding ? tf.tensor3d(mask, [rows.length, rep * seq, keys]) : tf.tensor2d(mask, [rep * seq, keys])
}

/**
 * softmax(q k^T / sqrt(hd) + mask) v for grouped heads. q: [G, rep*T, hd], k, v: [G, Tk, hd].
 * mask is null when every query may see every key (one new token against the KV cache), [rep*T, Tk]
 * for every group alike, or [B, rep*T, Tk] per row of a padded batch (G = B * Hkv).
 * `decoding` (no gradient needed, a few query rows against a long cache): q k^T uses the matmul's
 * transpose flag instead of copying the whole key cache into k^T every step.
 */
export function attention(q: tf.Tensor3D, k: tf.Tensor3D, v: tf.Tensor3D, mask: tf.Tensor2D | tf.Tensor3D | null, decoding = false): tf.Tensor3D {
  const scale = 1 / Math.sqrt(q.shape[2])
  const scaled = tf.mul(q, scale) as tf.Tensor3D
  const scores: tf.Tensor3D = decoding ? tf.matMul(scaled, k, false, true) : batchMatMul(scaled, tf.transpose(k, [0, 2, 1])) // [G, rep*T, Tk]
  const probs = maskedSoftmax(scores, mask) // [G, rep*T, Tk]
  return batchMatMul(probs, v) // [G, rep*T, hd]
}

/** softmax(q k^T / sqrt(hd) + causal mask) per head, [B, H, T, T], from q [B*T, H*hd] and k [B*T, Hkv*hd] (a full sequence from position 0). */
export function attentionProbabilitiesOf(q: tf.Tensor2D, k: tf.Tensor2D, { batch, seq, nHeads, nKv, hd }: HeadShape): tf.Tensor4D {
  return tf.tidy(() => {
    const rep = nHeads / nKv
    const keys = tf.reshape(toHeads(k, batch, seq, nKv, hd), [batch * nKv, seq, hd]) // [B*Hkv, T, hd]
    const scores = tf.matMul(tf.mul(groupQueries(q, batch, seq, nHeads, nKv, hd), 1 / Math.sqrt(hd)), keys, false, true) as tf.Tensor3D // [B*Hkv, rep*T, T]
    const probs = maskedSoftmax(scores, causalMask(seq, seq, 0, 0, rep)) // [B*Hkv, rep*T, T]
    return tf.reshape(probs, [batch, nHeads, seq, seq]) as tf.Tensor4D // query head h = kv head h / rep, rows in head order
  })
}

/** Batch, sequence, query heads, kv heads and head size of one attention call. */
export interface HeadShape {
  batch: number
  seq: number
  nHeads: number
  nKv: number
  hd: number
}

/** A KV cache's append for one layer: this chunk's keys, values [B, Hkv, T, hd] in, all of them [B, Hkv, Tk, hd] out. */
export type AppendKv = (k: tf.Tensor4D, v: tf.Tensor4D) => { k: tf.Tensor4D; v: tf.Tensor4D }

/**
 * Attention in tfjs ops over q [B*T, H*hd] and this chunk's k, v [B*T, Hkv*hd]: the heads split
 * out by transposes, the queries grouped per kv head (groupQueries), attention(), the heads merged
 * back; with `append` (a KV cache) the chunk's keys and values join the cached ones first. The
 * general path (cache, padding, any backend) and the reference of the fused training kernel
 * (kernels/causalAttention.ts). Returns [B*T, H*hd].
 */
export function groupedAttention(q: tf.Tensor2D, kNew: tf.Tensor2D, vNew: tf.Tensor2D, shape: HeadShape, mask: tf.Tensor2D | tf.Tensor3D | null, decoding: boolean, append?: AppendKv): tf.Tensor2D {
  const { batch, seq, nHeads, nKv, hd } = shape
  let k = toHeads(kNew, batch, seq, nKv, hd) // [B, Hkv, T, hd]
  let v = toHeads(vNew, batch, seq, nKv, hd)
  if (append) ({ k, v } = append(k, v)) // [B, Hkv, Tk, hd]
  const keys = k.shape[2]
  const out = attention(
    groupQueries(q, batch, seq, nHeads, nKv, hd), // [B*Hkv, rep*T, hd]
    tf.reshape(k, [batch * nKv, keys, hd]),
    tf.reshape(v, [batch * nKv, keys, hd]),
    mask, // [rep*T, Tk] or [B, rep*T, Tk]
    decoding,
  )
  return ungroupHeads(out, batch, seq, nHeads, hd) // [B*T, H*hd]
}

/** cos/sin tables for every position up to max_seq_len, and the rotate_half matrix. */
export interface RopeTables {
  headDim: number
  cos: tf.Tensor2D // [maxSeq, hd]
  sin: tf.Tensor2D // [maxSeq, hd]
  rotateHalf: tf.Tensor2D // [hd, hd]
}

export function createRopeTables(hd: number, maxSeq: number, theta: number): RopeTables {
  const half = hd / 2
  const cos = new Float32Array(maxSeq * hd)
  const sin = new Float32Array(maxSeq * hd)
  for (let pos = 0; pos < maxSeq; pos++) {
    for (let i = 0; i < half; i++) {
      // Hugging Face: inv_freq = 1 / theta^(2i/hd), and emb = cat(freqs, freqs).
      const angle = pos / Math.pow(theta, (2 * i) / hd)
      cos[pos * hd + i] = cos[pos * hd + i + half] = Math.cos(angle)
      sin[pos * hd + i] = sin[pos * hd + i + half] = Math.sin(angle)
    }
  }
  // rotate_half(x) = [-x2, x1]: column i < half takes -x[i + half], column i >= half takes x[i - half].
  const r = new Float32Array(hd * hd)
  for (let i = 0; i < half; i++) {
    r[(i + half) * hd + i] = -1
    r[i * hd + (i + half)] = 1
  }
  return {
    headDim: hd,
    cos: tf.tensor2d(cos, [maxSeq, hd]),
    sin: tf.tensor2d(sin, [maxSeq, hd]),
    rotateHalf: tf.tensor2d(r, [hd, hd]),
  }
}

// ---------------------------------------------------------------------------------------------
// The model

/** Up to this many tokens per forward pass without a cache, matmuls use cached transposed weights. */
const DECODE_TOKENS = 8

export class Llama {
  private readonly rope: RopeTables
  /** Set by attentionProbabilities while it runs: receives each layer's [B, H, T, T] probabilities. */
  private attentionProbe: ((probs: tf.Tensor4D) => void) | null = null
  /**
   * Tensors derived from weights for decoding (W^T, the fused query/key projection), rebuilt when
   * a source variable's buffer changes (assign).
   */
  private readonly derived = new Map<string, { sources: object[]; value: tf.Tensor2D }>()
  /**
   * LoRA adapters on some linear layers (core/model/lora.ts), or null. They are not in `weights`:
   * the trunk stays what the checkpoint holds; `dispose` frees them with the model.
   */
  adapters: LoraAdapters | null = null

  private constructor(
    readonly config: LlamaConfig,
    readonly weights: Record<string, tf.Variable>,
  ) {
    this.rope = tf.tidy(() => {
      const t = createRopeTables(headDim(config), config.max_seq_len, config.rope_theta)
      return { ...t, cos: tf.keep(t.cos), sin: tf.keep(t.sin), rotateHalf: tf.keep(t.rotateHalf) }
    })
  }

  /**
   * A freshly initialised model, deterministic for a seed on every backend: normal(0, 0.02)
   * matrices, residual projections (o_proj, down_proj) scaled by 1/sqrt(2 * n_layers) as in GPT-2
   * and nanoGPT, norms at one.
   */
  static create(partial: Partial<LlamaConfig>, seed = 0): Llama {
    const cfg = resolveModelConfig(partial)
    const rand = mulberry32(seed)
    const residualStd = INIT_STD / Math.sqrt(2 * cfg.n_layers)
    const weights: Record<string, tf.Variable> = {}
    for (const [name, shape] of Object.entries(weightShapes(cfg))) {
      const size = shape.reduce((a, b) => a * b, 1)
      let values: Float32Array
      if (shape.length === 1) values = new Float32Array(size).fill(1)
      else values = normalArray(size, /(o_proj|down_proj)\.weight$/.test(name) ? residualStd : INIT_STD, rand)
      // tidy: the variable shares the buffer, the temporary tensor is released.
      weights[name] = tf.tidy(() => tf.variable(tf.tensor(values, shape, 'float32'), true))
    }
    return new Llama(cfg, weights)
  }

  /**
   * A model from named tensors (e.g. a loaded model.safetensors). Every expected name must be present
   * with its shape; extra names are an error (a sign of an unsupported architecture). The tensors
   * are copied into variables; the caller still owns (and disposes) `tensors`.
   */
  static fromWeights(partial: Partial<LlamaConfig>, tensors: Record<string, tf.Tensor>): Llama {
    const cfg = resolveModelConfig(partial)
    const expected = weightShapes(cfg)
    const problems: string[] = []
    for (const [name, shape] of Object.entries(expected)) {
      const t = tensors[name]
      if (!t) problems.push(`missing ${name} [${shape}]`)
      else if (t.shape.join(',') !== shape.join(',')) problems.push(`${name} has shape [${t.shape}], expected [${shape}]`)
    }
    for (const name of Object.keys(tensors)) {
      if (!(name in expected)) problems.push(`unexpected tensor ${name}`)
    }
    if (problems.length > 0) throw new Error(`Llama.fromWeights: weights do not match the config:\n  - ${problems.join('\n  - ')}`)
    const weights: Record<string, tf.Variable> = {}
    for (const name of Object.keys(expected)) {
      weights[name] = tf.tidy(() => tf.variable(tf.cast(tensors[name], 'float32'), true))
    }
    return new Llama(cfg, weights)
  }

  /** The final-norm hidden states [B, T, D]. With a cache, appends this chunk's keys/values to it. */
  hidden(tokens: tf.Tensor2D, cache?: KVCache, startPos?: number): tf.Tensor3D {
    const [batch, seq] = tokens.shape
    const start = startPos ?? cache?.length ?? 0
    this.checkInput(tokens, cache, start)
    const out = tf.tidy(() => {
      const ids = tf.reshape(tf.cast(tokens, 'int32'), [batch * seq]) as tf.Tensor1D // [N]
      const pos = this.positions(batch, seq, start, cache)
      let x = gatherRows(this.w('model.embed_tokens.weight'), ids) // [N, D]
      const recompute = this.recomputesBlocks(cache)
      for (let layer = 0; layer < this.config.n_layers; layer++) {
        x = recompute ? this.recomputedBlock(layer, x, pos) : this.block(layer, x, pos, cache)
      }
      const normed = rmsNorm(x, this.w1('model.norm.weight'), this.config.norm_eps)
      return tf.reshape(normed, [batch, seq, this.config.dim]) as tf.Tensor3D
    })
    cache?.advance(seq)
    return out
  }

  /**
   * Each layer's attention probabilities for `tokens` [B, T] (no cache, causal): [B, H, T, T] per
   * layer, query rows by key columns, each row summing to 1. Computed beside the forward pass
   * with the tfjs formulation (the fused kernels do not expose them), for looking at, e.g. how
   * much a dialogue's later turns attend to its system message (core/eval/systemAttention.ts).
   */
  attentionProbabilities(tokens: tf.Tensor2D): tf.Tensor4D[] {
    const maps: tf.Tensor4D[] = []
    this.attentionProbe = (probs) => maps.push(tf.keep(probs))
    try {
      tf.tidy(() => {
        this.hidden(tokens)
      })
    } finally {
      this.attentionProbe = null
    }
    return maps
  }

  /** Next-token logits [B, T, V]. */
  logits(tokens: tf.Tensor2D, cache?: KVCache, startPos?: number): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.hidden(tokens, cache, startPos)
      const [batch, seq, dim] = h.shape
      const logits = linear(tf.reshape(h, [batch * seq, dim]), ...this.weightPair(this.outputName(), cache !== undefined || batch * seq <= DECODE_TOKENS)) // [N, V]
      return tf.reshape(logits, [batch, seq, this.config.vocab_size]) as tf.Tensor3D
    })
  }

  /**
   * Decoding: appends `tokens` [B, T] to the cache and returns the logits of each row's last
   * column only, [B, V] (the output projection runs on B rows, not B*T).
   */
  nextTokenLogits(tokens: tf.Tensor2D, cache: KVCache): tf.Tensor2D {
    return tf.tidy(() => {
      const h = this.hidden(tokens, cache) // [B, T, D]
      const [batch, seq, dim] = h.shape
      const last = seq === 1 ? tf.reshape(h, [batch, dim]) : tf.reshape(tf.slice(h, [0, seq - 1, 0], [batch, 1, dim]), [batch, dim]) // [B, D]
      return linear(last as tf.Tensor2D, ...this.weightPair(this.outputName(), true)) // [B, V]
    })
  }

  /** log p(targets[b, t] | tokens[b, :t+1]) for every position, [B, T]. Differentiable. */
  perTokenLogProbs(tokens: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [batch, seq] = tokens.shape
      if (targets.shape[0] !== batch || targets.shape[1] !== seq) {
        throw new Error(`targets shape [${targets.shape}] does not match tokens [${tokens.shape}]`)
      }
      const h = this.hidden(tokens)
      const logits = linear(tf.reshape(h, [batch * seq, this.config.dim]), ...this.weightPair(this.outputName(), false)) // [N, V]
      const flatTargets = tf.reshape(tf.cast(targets, 'int32'), [batch * seq]) as tf.Tensor1D
      return tf.reshape(targetLogProbs(logits, flatTargets), [batch, seq]) as tf.Tensor2D
    })
  }

  /** Mean cross-entropy over positions where mask == 1 (all positions without a mask). */
  loss(tokens: tf.Tensor2D, targets: tf.Tensor2D, mask?: tf.Tensor2D): tf.Scalar {
    return tf.tidy(() => {
      const logProbs = this.perTokenLogProbs(tokens, targets) // [B, T]
      if (!mask) return tf.neg(tf.mean(logProbs)) as tf.Scalar
      if (mask.shape.join(',') !== tokens.shape.join(',')) {
        throw new Error(`mask shape [${mask.shape}] does not match tokens [${tokens.shape}]`)
      }
      const m = tf.cast(mask, 'float32')
      // max(count, 1): an all-zero mask gives loss 0 rather than NaN.
      return tf.neg(tf.div(tf.sum(tf.mul(logProbs, m)), tf.maximum(tf.sum(m), 1))) as tf.Scalar
    })
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.weights)
  }

  dispose(): void {
    for (const v of Object.values(this.weights)) v.dispose()
    this.adapters?.dispose()
    for (const d of this.derived.values()) d.value.dispose()
    this.derived.clear()
    this.rope.cos.dispose()
    this.rope.sin.dispose()
    this.rope.rotateHalf.dispose()
  }

  // -------------------------------------------------------------------------------------------

  /** One pre-norm transformer block: x + attn(norm(x)), then + mlp(norm(x)). x: [N, D]. */
  private block(layer: number, x: tf.Tensor2D, pos: Positions, cache?: KVCache): tf.Tensor2D {
    const p = `model.layers.${layer}`
    const eps = this.config.norm_eps
    if (this.runsBlockFused(x, pos, cache)) {
      const attn = `${p}.self_attn`
      const mlp = `${p}.mlp`
      // With adapters (mergeable: no dropout on their input), each projection's weight merged with its adapter.
      const proj = (module: string) => {
        const weight = this.w(`${module}.weight`)
        return this.adapters ? this.adapters.merged(weight, module) : weight
      }
      const params = {
        normIn: this.w1(`${p}.input_layernorm.weight`), wq: proj(`${attn}.q_proj`), wk: proj(`${attn}.k_proj`), wv: proj(`${attn}.v_proj`),
        wo: proj(`${attn}.o_proj`), normPost: this.w1(`${p}.post_attention_layernorm.weight`),
        w1: proj(`${mlp}.gate_proj`), w3: proj(`${mlp}.up_proj`), w2: proj(`${mlp}.down_proj`),
      }
      return transformerBlockFused(x, params, pos.cos, pos.sin, { seq: pos.seq, heads: this.config.n_heads, kvHeads: this.config.n_kv_heads, eps })
    }
    const attnIn = rmsNorm(x, this.w1(`${p}.input_layernorm.weight`), eps)
    const h = tf.add(x, this.selfAttention(layer, attnIn, pos, cache)) as tf.Tensor2D // [N, D]
    const mlpIn = rmsNorm(h, this.w1(`${p}.post_attention_layernorm.weight`), eps)
    const decoding = pos.decoding
    const mlp = this.adapters
      ? this.swigluWithAdapters(mlpIn, `${p}.mlp`, decoding)
      : swiglu(mlpIn, ...(['gate_proj', 'up_proj', 'down_proj'].map((m) => this.weightPair(`${p}.mlp.${m}.weight`, decoding)) as [WeightPair, WeightPair, WeightPair]))
    return tf.add(h, mlp)
  }

  /**
   * The whole block as one native op each way (kernels/block.ts): a full causal sequence from
   * position 0 (what the fused attention takes), no attention probe, float32, and adapters only
   * as merged weights (none training with dropout).
   */
  private runsBlockFused(x: tf.Tensor2D, pos: Positions, cache?: KVCache): boolean {
    return !cache && pos.fusedCausal && (this.adapters?.mergeable() ?? true) && !this.attentionProbe && !pos.cosSin && x.dtype === 'float32' && fusedBlockActive()
  }

  /**
   * A LoRA training step over a frozen trunk keeps only each block's input through the forward pass
   * and recomputes the block in the backward pass (kernels/recompute.ts): the activations, not the
   * weights, are what fill memory then, and only the small adapters need gradients.
   */
  private recomputesBlocks(cache?: KVCache): boolean {
    const a = this.adapters
    return !cache && a !== null && a.training && a.enabled && Object.values(this.weights).every((w) => !w.trainable)
  }

  private recomputedBlock(layer: number, x: tf.Tensor2D, pos: Positions): tf.Tensor2D {
    const adapters = this.adapters!
    const mark = adapters.dropoutMark()
    // cos, sin and the mask are freed when the forward pass ends: the recomputation gets copies.
    const context = [pos.cos, pos.sin, ...(pos.mask ? [pos.mask] : [])]
    const block = (xIn: tf.Tensor2D, [cos, sin, mask]: tf.Tensor[]) =>
      adapters.replayDropout(mark, () => this.block(layer, xIn, { ...pos, cos: cos as tf.Tensor4D, sin: sin as tf.Tensor4D, mask: (mask as tf.Tensor2D | tf.Tensor3D | undefined) ?? null }))
    return recomputed(block, x, context, adapters.layerVariables(layer))
  }

  /** swiglu, with each projection through `project` (its adapter added). x: [N, D]. */
  private swigluWithAdapters(x: tf.Tensor2D, p: string, decoding: boolean): tf.Tensor2D {
    const g = this.project(x, `${p}.gate_proj`, decoding) // [N, hidden]
    const u = this.project(x, `${p}.up_proj`, decoding) // [N, hidden]
    return this.project(swigluGate(g, u), `${p}.down_proj`, decoding) // [N, D]
  }

  /** x @ W^T for the module's weight, plus its LoRA adapter's update when it has one that is on. */
  private project(x: tf.Tensor2D, module: string, decoding: boolean): tf.Tensor2D {
    const y = linear(x, ...this.weightPair(`${module}.weight`, decoding)) // [N, out]
    const delta = this.adapters?.delta(x, module) // [N, out] or null
    return delta ? tf.add(y, delta) : y
  }

  private selfAttention(layer: number, x: tf.Tensor2D, pos: Positions, cache?: KVCache): tf.Tensor2D {
    const { n_heads: nHeads, n_kv_heads: nKv } = this.config
    const { batch, seq } = pos
    const hd = headDim(this.config)
    const p = `model.layers.${layer}.self_attn`
    const decoding = pos.decoding
    const proj = (input: tf.Tensor2D, name: string) => this.project(input, `${p}.${name}`, decoding)
    // The fused one-token path folds the frozen q/k weights only: not with adapters on them.
    const adaptedQK = this.adapters !== null && (this.adapters.adapts(`${p}.q_proj`) || this.adapters.adapts(`${p}.k_proj`))
    const [q, kNew] = pos.cosSin && !adaptedQK
      ? this.ropedQueryKeyOneToken(layer, x, pos.cosSin)
      : [applyRope(proj(x, 'q_proj'), pos, nHeads), applyRope(proj(x, 'k_proj'), pos, nKv)] // [N, H*hd], [N, Hkv*hd]
    const vNew = proj(x, 'v_proj') // [N, Hkv*hd]
    if (this.attentionProbe && !cache) this.attentionProbe(attentionProbabilitiesOf(q, kNew, { batch, seq, nHeads, nKv, hd }))
    // A full sequence without cache or padding (training, evaluation): the fused kernel, on the
    // projections' own layout. One token per row against a preallocated cache: the decoding
    // kernel on the cache's buffers. Otherwise the tfjs ops, with the cache and the padding mask.
    if (cache && pos.fusedDecode) {
      const { k, v } = cache.append(layer, tf.reshape(kNew, [batch, nKv, 1, hd]), tf.reshape(vNew, [batch, nKv, 1, hd])) // [B, Hkv, C, hd]
      return proj(decodeAttentionFused(q, k, v, { seq, heads: nHeads, kvHeads: nKv, last: cache.length, padding: cache.padding }), 'o_proj') // [B, D]
    }
    const out = !cache && pos.fusedCausal
      ? causalAttentionFused(q, kNew, vNew, { seq, heads: nHeads, kvHeads: nKv }) // [N, H*hd]
      : groupedAttention(q, kNew, vNew, { batch, seq, nHeads, nKv, hd }, pos.mask, decoding && seq === 1, cache && ((k, v) => cache.append(layer, k, v)))
    return proj(out, 'o_proj') // [N, D]
  }

  /**
   * Decoding one token per row: the rotary queries and keys from ONE matmul. rotate_half(x W^T) is
   * x (W^T R) for the signed permutation R, so [Wq^T | Wk^T | Wq^T R | Wk^T R] (built once, cached)
   * gives x, and rotate_half(x), for queries and keys at once; RoPE is then one multiply by
   * [cos; sin] and a sum. About a dozen fewer kernels per layer and token than applyRope twice,
   * which matters when a decoding step is dominated by per-kernel overhead (bench/generate.ts).
   * x: [B, D], cosSin: [1 or B, 2, 1, hd]. Returns q [B, H*hd] and k [B, Hkv*hd].
   */
  private ropedQueryKeyOneToken(layer: number, x: tf.Tensor2D, cosSin: tf.Tensor4D): [tf.Tensor2D, tf.Tensor2D] {
    const { n_heads: nHeads, n_kv_heads: nKv, dim } = this.config
    const hd = headDim(this.config)
    const batch = x.shape[0]
    const p = `model.layers.${layer}.self_attn`
    const wq = this.w(`${p}.q_proj.weight`)
    const wk = this.w(`${p}.k_proj.weight`)
    const fused = this.derivedWeight(`${p}.qk_rope`, [wq, wk], () => {
      const rotated = (wT: tf.Tensor2D, heads: number) => tf.reshape(tf.matMul(tf.reshape(wT, [-1, hd]) as tf.Tensor2D, this.rope.rotateHalf), [dim, heads * hd]) as tf.Tensor2D
      const [wqT, wkT] = [tf.transpose(wq), tf.transpose(wk)] // [D, H*hd], [D, Hkv*hd]
      return tf.concat([wqT, wkT, rotated(wqT, nHeads), rotated(wkT, nKv)], 1) as tf.Tensor2D // [D, 2*(H+Hkv)*hd]
    })
    const both = tf.reshape(tf.matMul(x, fused), [batch, 2, nHeads + nKv, hd]) // [B, (x, rotate_half x), H+Hkv, hd]
    const roped = tf.sum(tf.mul(both, cosSin), 1) // [B, H+Hkv, hd]
    const q = tf.reshape(tf.slice(roped, [0, 0, 0], [batch, nHeads, hd]), [batch, nHeads * hd]) as tf.Tensor2D
    const k = tf.reshape(tf.slice(roped, [0, nHeads, 0], [batch, nKv, hd]), [batch, nKv * hd]) as tf.Tensor2D
    return [q, k]
  }

  /**
   * RoPE rows and the causal mask for columns startPos..startPos+seq-1 (keys from 0 with a cache).
   * A left-padded cache gives each row its own positions (column - padding) and masks its padding.
   */
  private positions(batch: number, seq: number, startPos: number, cache?: KVCache): Positions {
    const hd = headDim(this.config)
    const rep = this.config.n_heads / this.config.n_kv_heads
    const keyStart = cache ? 0 : startPos
    const keys = cache ? cache.keyColumns(seq) : seq
    const decoding = cache !== undefined || batch * seq <= DECODE_TOKENS
    const fusedDecode = cache !== undefined && seq === 1 && cache.inPlace && fusedDecodeAttentionActive()
    const fusedCausal = cache === undefined && fusedAttentionActive()
    const common = { batch, seq, startPos, rotateHalf: this.rope.rotateHalf, decoding, fusedDecode, fusedCausal }
    // The one-matmul query/key path (ropedQueryKeyOneToken) when decoding with a cache, where RoPE
    // is tfjs ops; with the native RoPE kernel the plain projections and that kernel take fewer.
    const oneMatmul = cache !== undefined && seq === 1 && !nativeOpsActive()
    const withCosSin = (cos: tf.Tensor4D, sin: tf.Tensor4D) => ({ cos, sin, cosSin: oneMatmul ? (tf.concat([cos, sin], 1) as tf.Tensor4D) : null })
    if (cache?.padded) {
      const ids = tf.tensor1d(cache.positionIds(seq), 'int32') // [B*T]
      return {
        ...common,
        ...withCosSin(tf.reshape(tf.gather(this.rope.cos, ids), [batch, seq, 1, hd]), tf.reshape(tf.gather(this.rope.sin, ids), [batch, seq, 1, hd])),
        mask: fusedDecode ? null : causalMask(seq, keys, startPos, keyStart, rep, cache.padding), // [B, rep*T, Tk]
      }
    }
    return {
      ...common,
      ...withCosSin(tf.reshape(tf.slice(this.rope.cos, [startPos, 0], [seq, hd]), [1, seq, 1, hd]), tf.reshape(tf.slice(this.rope.sin, [startPos, 0], [seq, hd]), [1, seq, 1, hd])),
      // A single new token after the cached ones sees every key (unless the buffer has unwritten
      // columns): no mask needed.
      mask: fusedDecode || fusedCausal || (cache && seq === 1 && keys === startPos + 1) ? null : causalMask(seq, keys, startPos, keyStart, rep),
    }
  }

  private checkInput(tokens: tf.Tensor2D, cache: KVCache | undefined, start: number): void {
    if (tokens.rank !== 2) throw new Error(`tokens must be [batch, seq], got shape [${tokens.shape}]`)
    const seq = tokens.shape[1]
    if (start + seq > this.config.max_seq_len) {
      throw new Error(`positions ${start}..${start + seq - 1} exceed max_seq_len ${this.config.max_seq_len}`)
    }
    if (cache && start !== cache.length) {
      throw new Error(`startPos ${start} does not match the KV cache, which holds ${cache.length} positions`)
    }
  }

  /** The weight, plus its cached transpose when decoding (see kernels/linear.ts). */
  private weightPair(name: string, decoding: boolean): WeightPair {
    const w = this.w(name)
    if (!decoding) return [w, undefined]
    return [w, this.derivedWeight(name, [w], () => tf.transpose(w))]
  }

  /** A tensor built from weights, cached until one of `sources` changes buffer (an assign). */
  private derivedWeight(key: string, sources: tf.Tensor[], build: () => tf.Tensor2D): tf.Tensor2D {
    const cached = this.derived.get(key)
    if (cached && cached.sources.every((id, i) => id === sources[i].dataId)) return cached.value
    cached?.value.dispose()
    const value = tf.keep(tf.tidy(build))
    this.derived.set(key, { sources: sources.map((s) => s.dataId), value })
    return value
  }

  private outputName(): string {
    return this.config.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'
  }

  private w(name: string): tf.Tensor2D {
    return this.weights[name] as unknown as tf.Tensor2D
  }

  private w1(name: string): tf.Tensor1D {
    return this.weights[name] as unknown as tf.Tensor1D
  }
}
