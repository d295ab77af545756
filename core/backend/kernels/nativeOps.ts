// Fused native kernels (native/fastgemm) for the wasm and cpu backends, each a forward and a
// backward kernel registered under our own names, work split across the native thread pool:
//   RMSNorm with its scale (rmsNorm, rmsNormGrad): one pass over the rows where tfjs makes six
//     (square, mean, add, rsqrt, two multiplies);
//   the SwiGLU gate silu(g) * u (swiglu, swigluGrad): one pass where tfjs makes three forward and
//     about eight backward;
//   log-softmax and the target's pick over the vocabulary, the language-model loss
//     (logSoftmaxPick, logSoftmaxPickGrad): two passes forward and one backward where tfjs makes
//     about eleven and four, with its exp() the slowest elementwise kernel of wasm;
//   attention's softmax with its additive mask (maskedSoftmax, maskedSoftmaxGrad): one pass each
//     way where tfjs makes six forward and four backward;
//   rotary position embedding (rope, with a flag for its backward): one pass where tfjs makes a
//     matmul by the rotation, two multiplies and an add;
//   the row gather of the embedding and its gradient (gatherRows, scatterRows): threaded where
//     tfjs's GatherV2 and ScatterNd run on one;
//   AdamW's update of one parameter with its gradient scaled by the clip coefficient (adamw): one
//     pass over p, g, m, v where tfjs makes about a dozen, the same float32 arithmetic to the bit
//     (core/train/adamw.ts). An addon built before it only lacks this one (nativeAdamWActive);
//   AdamW's update of many parameters in one kernel (adamwMany): the same arithmetic, the
//     parameters cut into blocks the pool shares out, so a model of many small parameters is one
//     threaded job where a kernel per parameter ran most on one thread (nativeAdamWManyActive);
//   tfjs's own Add, replaced for two float32 tensors of one shape of at least NATIVE_ADD_MIN
//     elements (the residual stream, the backward's gradient sums): the same float32 additions on
//     the pool where wasm adds on one thread (nativeAddActive); other Adds go to the original;
//   attention of one new token per row against the KV cache when decoding (decodeAttention): one
//     kernel per layer and step where tfjs makes about ten (nativeDecodeAttentionActive);
//   the global L2 norm of all the gradients for clipping (globalNorm, addon function sumSquares):
//     one kernel where tfjs makes two per parameter and three more (nativeGlobalNormActive);
//   causal self-attention with grouped-query heads for training (attention, attentionGrad): the
//     products, mask, scale and softmax on the projections' own [B*T, heads*hd] layout, where tfjs
//     makes 48 kernels per layer and training step, 10 of them transposes (nativeAttentionActive;
//     an addon built before it lacks only this one);
//   a whole transformer block for training (blockForward, blockBackward): the kernels above and
//     the layer's matmuls in one call each way where the tfjs path makes about 40 kernels
//     (core/model/kernels/block.ts; nativeBlockActive).
// core/model/kernels/ (rmsNorm.ts, swiglu.ts, targetLogProbs.ts, maskedSoftmax.ts, rope.ts, gatherRows.ts, causalAttention.ts) call
// them, with hand-written gradients, when they are registered for the current backend and fall
// back to the tfjs formulation otherwise (no addon, an addon built before them,
// WORKBENCH_NATIVE_MATMUL=0, other backends).
import { tf } from '../tf'
import { loadFastGemm } from './nativeMatMul'
import { memoryOf, type KernelArgs, type WithMemory } from './backendMemory'
import { isOverridden, overrideKernel } from './override'

export const RMS_NORM = 'WorkbenchRmsNorm'
export const RMS_NORM_GRAD = 'WorkbenchRmsNormGrad'
export const SWIGLU = 'WorkbenchSwiglu'
export const SWIGLU_GRAD = 'WorkbenchSwigluGrad'
export const LOG_SOFTMAX_PICK = 'WorkbenchLogSoftmaxPick'
export const LOG_SOFTMAX_PICK_GRAD = 'WorkbenchLogSoftmaxPickGrad'
export const MASKED_SOFTMAX = 'WorkbenchMaskedSoftmax'
export const MASKED_SOFTMAX_GRAD = 'WorkbenchMaskedSoftmaxGrad'
export const ROPE = 'WorkbenchRope'
export const ROPE_GRAD = 'WorkbenchRopeGrad'
export const GATHER_ROWS = 'WorkbenchGatherRows'
export const SCATTER_ROWS = 'WorkbenchScatterRows'
export const ADAMW = 'WorkbenchAdamW'
export const ADAMW_MANY = 'WorkbenchAdamWMany'
export const ATTENTION = 'WorkbenchAttention'
export const ATTENTION_GRAD = 'WorkbenchAttentionGrad'
export const GLOBAL_NORM = 'WorkbenchGlobalNorm'
export const DECODE_ATTENTION = 'WorkbenchDecodeAttention'
export const BLOCK = 'WorkbenchBlock'
export const BLOCK_GRAD = 'WorkbenchBlockGrad'

interface OpsAddon {
  rmsNorm(x: Float32Array, w: Float32Array, y: Float32Array, rows: number, d: number, eps: number): void
  rmsNormGrad(x: Float32Array, w: Float32Array, dy: Float32Array, dx: Float32Array, dw: Float32Array, rows: number, d: number, eps: number): void
  swiglu(g: Float32Array, u: Float32Array, h: Float32Array, n: number): void
  swigluGrad(g: Float32Array, u: Float32Array, dh: Float32Array, dg: Float32Array, du: Float32Array, n: number): void
  logSoftmaxPick(x: Float32Array, targets: Int32Array, logp: Float32Array, logz: Float32Array, rows: number, v: number): void
  logSoftmaxPickGrad(x: Float32Array, targets: Int32Array, logz: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, v: number): void
  maskedSoftmax(scores: Float32Array, mask: Float32Array, y: Float32Array, groups: number, q: number, k: number, maskItems: number): void
  maskedSoftmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, k: number): void
  rope(x: Float32Array, cos: Float32Array, sin: Float32Array, out: Float32Array, rows: number, seq: number, heads: number, hd: number, tables: number, backward: boolean): void
  gatherRows(table: Float32Array, ids: Int32Array, out: Float32Array, rows: number, width: number, n: number): void
  scatterRows(ids: Int32Array, dy: Float32Array, dtable: Float32Array, rows: number, width: number, n: number): void
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, scale: Float32Array, pOut: Float32Array, mOut: Float32Array, vOut: Float32Array,
    n: number, beta1: number, beta2: number, decay: number, sqrtBias2: number, eps: number, stepSize: number): void
  /** Seven arrays per parameter (p, g, m, v, pOut, mOut, vOut) and one decay factor per parameter. */
  adamwMany(arrays: Float32Array[], decays: number[], scale: Float32Array, beta1: number, beta2: number, sqrtBias2: number, eps: number, stepSize: number): void
  attention(q: Float32Array, k: Float32Array, v: Float32Array, out: Float32Array, probs: Float32Array,
    batch: number, seq: number, heads: number, kvHeads: number, hd: number, scale: number): void
  attentionGrad(q: Float32Array, k: Float32Array, v: Float32Array, probs: Float32Array, dout: Float32Array, dq: Float32Array, dk: Float32Array, dv: Float32Array,
    batch: number, seq: number, heads: number, kvHeads: number, hd: number, scale: number): void
  add(a: Float32Array, b: Float32Array, out: Float32Array, n: number): void
  decodeAttention(q: Float32Array, kCache: Float32Array, vCache: Float32Array, padding: Int32Array, out: Float32Array,
    batch: number, heads: number, kvHeads: number, hd: number, capacity: number, last: number, scale: number): void
  /** The sum of the squares of every element of the arrays, summed in double. */
  sumSquares(arrays: Float32Array[]): number
  /** x, the block's 9 parameters and cos, sin; the saved array; y; scratch; then the block's dims. */
  blockForward(...args: (Float32Array | number)[]): void
  /** x, parameters, cos, sin; the saved array; dy; dx; the 9 parameter gradients; scratch; then the block's dims. */
  blockBackward(...args: (Float32Array | number)[]): void
  /** Scratch floats blockForward (or, backward, blockBackward) needs for these dims. */
  blockScratch(...args: (number | boolean)[]): number
  /** Floats of the one array in which blockForward keeps what blockBackward needs. */
  blockSaved(...args: number[]): number
}

/** [rows, d] of a 2-D float32 x and its [d] weight, or an error naming the problem. */
function normShape(x: tf.TensorInfo, weight: tf.TensorInfo): [number, number] {
  if (x.shape.length !== 2 || weight.shape.length !== 1 || weight.shape[0] !== x.shape[1] || x.dtype !== 'float32' || weight.dtype !== 'float32') {
    throw new Error(`${RMS_NORM}: expects float32 x [N, D] and weight [D], got x ${x.dtype} [${x.shape}] and weight ${weight.dtype} [${weight.shape}]`)
  }
  return [x.shape[0], x.shape[1]]
}

const registered = new Set<string>()
const adamwRegistered = new Set<string>()
const adamwManyRegistered = new Set<string>()
const attentionRegistered = new Set<string>()
const globalNormRegistered = new Set<string>()
const decodeAttentionRegistered = new Set<string>()
const blockRegistered = new Set<string>()

/** Below this many elements an Add stays with the backend's kernel: a thread would cost more than it saves. */
export const NATIVE_ADD_MIN = 16384

/** [g, u]'s element count: two float32 tensors of one shape. */
function gateSize(g: tf.TensorInfo, u: tf.TensorInfo): number {
  if (g.dtype !== 'float32' || u.dtype !== 'float32' || g.shape.join(',') !== u.shape.join(',')) {
    throw new Error(`${SWIGLU}: expects float32 g and u of one shape, got g ${g.dtype} [${g.shape}] and u ${u.dtype} [${u.shape}]`)
  }
  return tf.util.sizeFromShape(g.shape)
}

/** [rows, v] of float32 logits [N, V] and int32 targets [N], or an error naming the problem. */
function pickShape(x: tf.TensorInfo, targets: tf.TensorInfo): [number, number] {
  if (x.shape.length !== 2 || x.dtype !== 'float32' || targets.dtype !== 'int32' || targets.shape.length !== 1 || targets.shape[0] !== x.shape[0]) {
    throw new Error(`${LOG_SOFTMAX_PICK}: expects float32 logits [N, V] and int32 targets [N], got logits ${x.dtype} [${x.shape}] and targets ${targets.dtype} [${targets.shape}]`)
  }
  return [x.shape[0], x.shape[1]]
}

/** [groups, q, k, mask items] of float32 scores [G, Q, K] and a mask [Q, K] or [M, Q, K] (M divides G). */
function softmaxShape(scores: tf.TensorInfo, mask: tf.TensorInfo): [number, number, number, number] {
  const [groups, q, k] = scores.shape
  const items = mask.shape.length === 3 ? mask.shape[0] : 1
  const maskQK = mask.shape.slice(-2).join(',')
  if (scores.shape.length !== 3 || scores.dtype !== 'float32' || mask.dtype !== 'float32' || mask.shape.length < 2 || mask.shape.length > 3 || maskQK !== `${q},${k}` || groups % items !== 0) {
    throw new Error(`${MASKED_SOFTMAX}: expects float32 scores [G, Q, K] and a mask [Q, K] or [M, Q, K] with M dividing G, got scores ${scores.dtype} [${scores.shape}] and mask ${mask.dtype} [${mask.shape}]`)
  }
  return [groups, q, k, items]
}

/** [rows, seq, heads, hd, tables] of float32 x [B*T, H*hd] and cos, sin [C, T, 1, hd] (C = 1 or B). */
function ropeShape(x: tf.TensorInfo, cos: tf.TensorInfo, sin: tf.TensorInfo): [number, number, number, number, number] {
  const [tables, seq, one, hd] = cos.shape
  const rows = x.shape[0]
  if (x.shape.length !== 2 || cos.shape.length !== 4 || one !== 1 || sin.shape.join(',') !== cos.shape.join(',') || hd % 2 !== 0 ||
    x.shape[1] % hd !== 0 || rows % seq !== 0 || (tables !== 1 && tables * seq !== rows) || [x, cos, sin].some((t) => t.dtype !== 'float32')) {
    throw new Error(`${ROPE}: expects float32 x [B*T, H*hd] and cos, sin [1 or B, T, 1, hd], got x ${x.dtype} [${x.shape}], cos [${cos.shape}], sin [${sin.shape}]`)
  }
  return [rows, seq, x.shape[1] / hd, hd, tables]
}

/** [rows, width, n] of a float32 table [rows, width] and int32 ids [n]. */
function rowsShape(table: { shape: number[]; dtype: tf.DataType }, ids: tf.TensorInfo): [number, number, number] {
  if (table.shape.length !== 2 || table.dtype !== 'float32' || ids.dtype !== 'int32' || ids.shape.length !== 1) {
    throw new Error(`${GATHER_ROWS}: expects a float32 table [rows, width] and int32 ids [N], got table ${table.dtype} [${table.shape}] and ids ${ids.dtype} [${ids.shape}]`)
  }
  return [table.shape[0], table.shape[1], ids.shape[0]]
}

/** True when the fused native kernels serve the current backend. */
export function nativeOpsActive(): boolean {
  return registered.has(tf.getBackend())
}

/** True when the fused AdamW update serves the current backend (core/train/adamw.ts). */
export function nativeAdamWActive(): boolean {
  return adamwRegistered.has(tf.getBackend())
}

/** True when the many-parameter AdamW kernel serves the current backend (core/train/adamw.ts). */
export function nativeAdamWManyActive(): boolean {
  return adamwManyRegistered.has(tf.getBackend())
}

/** True when the fused causal attention serves the current backend (core/model/kernels/causalAttention.ts). */
export function nativeAttentionActive(): boolean {
  return attentionRegistered.has(tf.getBackend())
}

/** True when the current backend's Add of two same-shape float32 tensors runs natively. */
export function nativeAddActive(): boolean {
  return isOverridden('Add', tf.getBackend())
}

/** tfjs's Add with two float32 inputs of one shape and NATIVE_ADD_MIN elements or more done natively; anything else (broadcasts, int32, small) by `fallback`. */
function nativeAdd(native: OpsAddon, fallback: tf.KernelFunc, withMemory: WithMemory): tf.KernelFunc {
  return ((args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    const n = tf.util.sizeFromShape(a.shape)
    if (a.dtype !== 'float32' || b.dtype !== 'float32' || n < NATIVE_ADD_MIN || a.shape.join(',') !== b.shape.join(',')) {
      return fallback(args as unknown as Parameters<tf.KernelFunc>[0])
    }
    return withMemory(args.backend, [a, b], [a.shape], ([as, bs], [out]) => native.add(as, bs, out, n))[0]
  }) as unknown as tf.KernelFunc
}

/** True when the whole-block training kernels serve the current backend (core/model/kernels/block.ts). */
export function nativeBlockActive(): boolean {
  return blockRegistered.has(tf.getBackend())
}

/** The block's inputs by name, in the addon's argument order: x, the parameters, the RoPE tables. */
export const BLOCK_INPUTS = ['x', 'normIn', 'wq', 'wk', 'wv', 'wo', 'normPost', 'w1', 'w3', 'w2', 'cos', 'sin'] as const
/** The dims the addon takes (batch, seq, dim, heads, kvHeads, hd, hidden, tables, eps), checked against the inputs. */
function blockShapes(inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap) {
  const [seq, heads, kvHeads, eps] = [attrs.seq, attrs.heads, attrs.kvHeads, attrs.eps].map(Number)
  const { x, wq, w1, cos } = inputs
  const [rows, dim] = x.shape
  const hd = wq.shape[0] / heads
  const hidden = w1.shape[0]
  const [tables] = cos.shape
  const batch = rows / seq
  const [q, k, n] = [heads * hd, kvHeads * hd, rows]
  const expected: Record<string, number[]> = {
    x: [n, dim], normIn: [dim], wq: [q, dim], wk: [k, dim], wv: [k, dim], wo: [dim, q], normPost: [dim], w1: [hidden, dim], w3: [hidden, dim], w2: [dim, hidden],
    cos: [tables, seq, 1, hd], sin: [tables, seq, 1, hd],
  }
  const wrong = BLOCK_INPUTS.find((name) => inputs[name]?.dtype !== 'float32' || inputs[name].shape.join(',') !== expected[name].join(','))
  if (wrong || !Number.isInteger(batch) || !Number.isInteger(hd) || hd % 2 !== 0 || heads % kvHeads !== 0 || (tables !== 1 && tables !== batch)) {
    const got = BLOCK_INPUTS.map((name) => `${name} [${inputs[name]?.shape}]`).join(', ')
    throw new Error(`${BLOCK}: expects float32 inputs shaped for T = ${seq}, H = ${heads}, Hkv = ${kvHeads} (x [B*T, D], weights [out, in], cos/sin [1 or B, T, 1, hd])${wrong ? `; ${wrong} is not [${expected[wrong]}]` : ''}; got ${got}`)
  }
  return { dims: [batch, seq, dim, heads, kvHeads, hd, hidden, tables, eps], xShape: [n, dim] }
}

/**
 * The block's bodies: forward y and `saved` (everything the backward needs, one flat array, laid
 * out by the addon); backward dx then the 9 parameters' gradients. Scratch is allocated per call
 * and released.
 */
/** The parameters whose gradient blockBackward can skip: the projections (an RMSNorm's is always computed). */
const FROZEN_SKIPPABLE = new Set<string>(['wq', 'wk', 'wv', 'wo', 'w1', 'w3', 'w2'])

function blockBodies(native: OpsAddon): Record<string, NativeBody> {
  const parameters = BLOCK_INPUTS.slice(1, 10)
  return {
    [BLOCK]: (inputs, attrs, run, release) => {
      const { dims, xShape } = blockShapes(inputs, attrs)
      const [saved, scratch] = [native.blockSaved(...dims), native.blockScratch(...dims, false)]
      const outs = run(BLOCK_INPUTS.map((name) => inputs[name]), [xShape, [saved], [scratch]], (ins, [y, kept, temp]) => native.blockForward(...ins, kept, y, temp, ...dims))
      release(outs.pop()!)
      return outs
    },
    [BLOCK_GRAD]: (inputs, attrs, run, release) => {
      const { dims, xShape } = blockShapes(inputs, attrs)
      const scratch = native.blockScratch(...dims, true)
      const ins = [...BLOCK_INPUTS, 'saved', 'dy'].map((name) => inputs[name])
      // attrs.frozen: one bit per parameter (BLOCK_INPUTS' order) whose gradient nobody takes. A
      // frozen projection's dW is not computed (the addon skips an empty array) and reads as zeros.
      const frozen = Number(attrs.frozen ?? 0)
      const skip = (gradient: Float32Array, i: number) => (frozen & (1 << i) && FROZEN_SKIPPABLE.has(parameters[i]) ? gradient.fill(0).subarray(0, 0) : gradient)
      const outs = run(ins, [xShape, ...parameters.map((name) => inputs[name].shape), [scratch]], (arrays, [dx, ...rest]) => {
        const grads = rest.slice(0, parameters.length).map(skip)
        native.blockBackward(...arrays, dx, ...grads, rest[parameters.length], ...dims)
      })
      release(outs.pop()!)
      return outs
    },
  }
}

/** True when the decoding attention kernel serves the current backend (core/model/kernels/causalAttention.ts). */
export function nativeDecodeAttentionActive(): boolean {
  return decodeAttentionRegistered.has(tf.getBackend())
}

/** Batch, heads, kv heads, head size and capacity of q [B, H*hd] against cache buffers [B, Hkv, C, hd], with `last` and `padding` [B] in range. */
function decodeShape(q: tf.TensorInfo, kCache: tf.TensorInfo, vCache: tf.TensorInfo, attrs: tf.NamedAttrMap) {
  const [heads, kvHeads, last] = [attrs.heads, attrs.kvHeads, attrs.last].map(Number)
  const padding = attrs.padding as number[]
  const [batch, width] = q.shape
  const hd = width / heads
  const [cb, ch, capacity, chd] = kCache.shape
  const ok = q.shape.length === 2 && kCache.shape.length === 4 && [q, kCache, vCache].every((t) => t.dtype === 'float32') &&
    vCache.shape.join(',') === kCache.shape.join(',') && cb === batch && ch === kvHeads && chd === hd && Number.isInteger(hd) &&
    heads % kvHeads === 0 && last >= 0 && last < capacity && Array.isArray(padding) && padding.length === batch && padding.every((p) => p >= 0 && p <= last)
  if (!ok) {
    throw new Error(`${DECODE_ATTENTION}: expects float32 q [B, H*hd] and caches [B, Hkv, C, hd] with H = ${heads}, Hkv = ${kvHeads}, last column ${last} < C and a padding per row at most ${last}, got q [${q.shape}], caches [${kCache.shape}] and [${vCache.shape}], padding [${padding}]`)
  }
  return { batch, heads, kvHeads, hd, capacity, last, padding: Int32Array.from(padding), scale: 1 / Math.sqrt(hd) }
}

/** The decoding attention: out [B, H*hd] from this step's queries and the cache buffers (this step's column written). */
function decodeAttentionBody(native: OpsAddon): NativeBody {
  return ({ q, kCache, vCache }, attrs, run) => {
    const { batch, heads, kvHeads, hd, capacity, last, padding, scale } = decodeShape(q, kCache, vCache, attrs)
    return run([q, kCache, vCache], [q.shape], ([qs, ks, vs], [out]) =>
      native.decodeAttention(qs, ks, vs, padding, out, batch, heads, kvHeads, hd, capacity, last, scale))[0]
  }
}

/** True when the fused global norm serves the current backend (core/train/adamw.ts, clipCoefficient). */
export function nativeGlobalNormActive(): boolean {
  return globalNormRegistered.has(tf.getBackend())
}

/** The global norm: sqrt of the sum of squares over any number of float32 tensors (inputs '0', '1', ...), a float32 scalar. */
function globalNormBody(native: OpsAddon): NativeBody {
  return (inputs, _attrs, run) => {
    const tensors = Object.values(inputs)
    const bad = tensors.findIndex((t) => t.dtype !== 'float32')
    if (bad >= 0) throw new Error(`${GLOBAL_NORM}: expects float32 tensors, got ${tensors[bad].dtype} at input ${bad}`)
    return run(tensors, [[]], (arrays, [norm]) => {
      norm[0] = Math.sqrt(native.sumSquares(arrays))
    })[0]
  }
}

/** Batch, sequence, heads, kv heads, head size and scale of causal attention over float32 q [B*T, H*hd], k, v [B*T, Hkv*hd]. */
function attentionShape(q: tf.TensorInfo, k: tf.TensorInfo, v: tf.TensorInfo, attrs: tf.NamedAttrMap) {
  const [seq, heads, kvHeads] = [attrs.seq, attrs.heads, attrs.kvHeads].map(Number)
  const [rows, width] = q.shape
  const hd = width / heads
  const kvShape = `${rows},${kvHeads * hd}`
  if (q.shape.length !== 2 || [q, k, v].some((t) => t.dtype !== 'float32') || k.shape.join(',') !== kvShape || v.shape.join(',') !== kvShape ||
    !Number.isInteger(hd) || hd < 1 || heads % kvHeads !== 0 || !(seq >= 1) || rows % seq !== 0) {
    throw new Error(`${ATTENTION}: expects float32 q [B*T, H*hd], k and v [B*T, Hkv*hd] with T = ${seq}, H = ${heads}, Hkv = ${kvHeads} (H a multiple of Hkv), got q [${q.shape}], k [${k.shape}], v [${v.shape}]`)
  }
  return { batch: rows / seq, seq, heads, kvHeads, hd, scale: 1 / Math.sqrt(hd) }
}

/** The fused attention's bodies: out and the probabilities [B, H, T, T] forward; dq, dk, dv backward. */
function attentionBodies(native: OpsAddon): Record<string, NativeBody> {
  return {
    [ATTENTION]: ({ q, k, v }, attrs, run) => {
      const { batch, seq, heads, kvHeads, hd, scale } = attentionShape(q, k, v, attrs)
      return run([q, k, v], [q.shape, [batch, heads, seq, seq]], ([qs, ks, vs], [out, probs]) => native.attention(qs, ks, vs, out, probs, batch, seq, heads, kvHeads, hd, scale))
    },
    [ATTENTION_GRAD]: ({ q, k, v, probs, dy }, attrs, run) => {
      const { batch, seq, heads, kvHeads, hd, scale } = attentionShape(q, k, v, attrs)
      if (probs.shape.join(',') !== `${batch},${heads},${seq},${seq}` || dy.shape.join(',') !== q.shape.join(',')) {
        throw new Error(`${ATTENTION_GRAD}: expects probs [${batch}, ${heads}, ${seq}, ${seq}] and dy [${q.shape}], got probs [${probs.shape}] and dy [${dy.shape}]`)
      }
      return run([q, k, v, probs, dy], [q.shape, k.shape, v.shape], ([qs, ks, vs, ps, dys], [dq, dk, dv]) =>
        native.attentionGrad(qs, ks, vs, ps, dys, dq, dk, dv, batch, seq, heads, kvHeads, hd, scale))
    },
  }
}

/** The element count of float32 param, grad, m and v of one shape, with a float32 scalar scale. */
function adamwSize(param: tf.TensorInfo, grad: tf.TensorInfo, m: tf.TensorInfo, v: tf.TensorInfo, scale: tf.TensorInfo): number {
  const shape = param.shape.join(',')
  if ([param, grad, m, v, scale].some((t) => t.dtype !== 'float32') || [grad, m, v].some((t) => t.shape.join(',') !== shape) || scale.shape.length !== 0) {
    throw new Error(`${ADAMW}: expects float32 param, grad, m, v of one shape and a scalar scale, got param [${param.shape}], grad [${grad.shape}], m [${m.shape}], v [${v.shape}], scale [${scale.shape}]`)
  }
  return tf.util.sizeFromShape(param.shape)
}

/** A kernel body: the inputs by name, the attributes, the backend's memory helper bound to the call, and a release for outputs used only as scratch. */
type NativeBody = (inputs: Record<string, tf.TensorInfo>, attrs: tf.NamedAttrMap, run: (inputs: tf.TensorInfo[], outShapes: number[][], body: (inputs: Float32Array[], outputs: Float32Array[]) => void) => tf.TensorInfo[],
  release: (output: tf.TensorInfo) => void) => tf.TensorInfo | tf.TensorInfo[]

/** The fused kernels' bodies by name: shapes checked, outputs allocated, the native function called on the memory. */
function kernelBodies(native: OpsAddon): Record<string, NativeBody> {
  // int32 tensors come as Int32Array views (the helpers hand over each tensor's own typed array).
  const asInt32 = (a: Float32Array) => a as unknown as Int32Array
  return {
    [RMS_NORM]: ({ x, weight }, attrs, run) => {
      const [rows, d] = normShape(x, weight)
      return run([x, weight], [[rows, d]], ([xs, ws], [y]) => native.rmsNorm(xs, ws, y, rows, d, Number(attrs.eps)))[0]
    },
    [RMS_NORM_GRAD]: ({ x, weight, dy }, attrs, run) => {
      const [rows, d] = normShape(x, weight)
      return run([x, weight, dy], [[rows, d], [d]], ([xs, ws, dys], [dx, dw]) => native.rmsNormGrad(xs, ws, dys, dx, dw, rows, d, Number(attrs.eps)))
    },
    [SWIGLU]: ({ g, u }, _attrs, run) => {
      const n = gateSize(g, u)
      return run([g, u], [g.shape], ([gs, us], [h]) => native.swiglu(gs, us, h, n))[0]
    },
    [SWIGLU_GRAD]: ({ g, u, dh }, _attrs, run) => {
      const n = gateSize(g, u)
      return run([g, u, dh], [g.shape, g.shape], ([gs, us, dhs], [dg, du]) => native.swigluGrad(gs, us, dhs, dg, du, n))
    },
    [LOG_SOFTMAX_PICK]: ({ x, targets }, _attrs, run) => {
      const [rows, v] = pickShape(x, targets)
      return run([x, targets], [[rows], [rows]], ([xs, ts], [logp, logz]) => native.logSoftmaxPick(xs, asInt32(ts), logp, logz, rows, v)) // logp, logZ: [N] each
    },
    [LOG_SOFTMAX_PICK_GRAD]: ({ x, targets, logz, dy }, _attrs, run) => {
      const [rows, v] = pickShape(x, targets)
      return run([x, targets, logz, dy], [[rows, v]], ([xs, ts, zs, dys], [dx]) => native.logSoftmaxPickGrad(xs, asInt32(ts), zs, dys, dx, rows, v))[0]
    },
    [MASKED_SOFTMAX]: ({ scores, mask }, _attrs, run) => {
      const [groups, q, k, items] = softmaxShape(scores, mask)
      return run([scores, mask], [scores.shape], ([ss, ms], [y]) => native.maskedSoftmax(ss, ms, y, groups, q, k, items))[0]
    },
    [MASKED_SOFTMAX_GRAD]: ({ y, dy }, _attrs, run) => {
      const k = y.shape[y.shape.length - 1]
      const rows = tf.util.sizeFromShape(y.shape) / k
      return run([y, dy], [y.shape], ([ys, dys], [dx]) => native.maskedSoftmaxGrad(ys, dys, dx, rows, k))[0]
    },
    [ROPE]: ({ x, cos, sin }, _attrs, run) => {
      const [rows, seq, heads, hd, tables] = ropeShape(x, cos, sin)
      return run([x, cos, sin], [x.shape], ([xs, cs, ss], [out]) => native.rope(xs, cs, ss, out, rows, seq, heads, hd, tables, false))[0]
    },
    [ROPE_GRAD]: ({ dy, cos, sin }, _attrs, run) => {
      const [rows, seq, heads, hd, tables] = ropeShape(dy, cos, sin)
      return run([dy, cos, sin], [dy.shape], ([dys, cs, ss], [dx]) => native.rope(dys, cs, ss, dx, rows, seq, heads, hd, tables, true))[0]
    },
    [GATHER_ROWS]: ({ table, ids }, _attrs, run) => {
      const [rows, width, n] = rowsShape(table, ids)
      return run([table, ids], [[n, width]], ([ts, is], [out]) => native.gatherRows(ts, asInt32(is), out, rows, width, n))[0]
    },
    [SCATTER_ROWS]: ({ ids, dy }, attrs, run) => {
      const rows = Number(attrs.rows)
      const [, width, n] = rowsShape({ shape: [rows, dy.shape[1]], dtype: dy.dtype }, ids)
      return run([ids, dy], [[rows, width]], ([is, dys], [dtable]) => native.scatterRows(asInt32(is), dys, dtable, rows, width, n))[0]
    },
  }
}

/** The fused AdamW update: new param, m and v (each the param's shape) from the old ones and the gradient. */
function adamwBody(native: OpsAddon): NativeBody {
  return ({ param, grad, m, v, scale }, attrs, run) => {
    const n = adamwSize(param, grad, m, v, scale)
    const [beta1, beta2, decay, sqrtBias2, eps, stepSize] = ['beta1', 'beta2', 'decay', 'sqrtBias2', 'eps', 'stepSize'].map((k) => Number(attrs[k]))
    return run([param, grad, m, v, scale], [param.shape, param.shape, param.shape], ([ps, gs, ms, vs, ss], [pOut, mOut, vOut]) =>
      native.adamw(ps, gs, ms, vs, ss, pOut, mOut, vOut, n, beta1, beta2, decay, sqrtBias2, eps, stepSize))
  }
}

/**
 * AdamW over many parameters: inputs '0', '1', ... are p, g, m, v of each parameter in turn and
 * the scalar scale last; attrs the constants and `decays` (one per parameter); outputs new p, m,
 * v of each parameter in turn.
 */
function adamwManyBody(native: OpsAddon): NativeBody {
  return (inputs, attrs, run) => {
    const tensors = Object.values(inputs)
    const scale = tensors.pop()!
    const decays = attrs.decays as number[]
    if (tensors.length % 4 !== 0 || !Array.isArray(decays) || decays.length !== tensors.length / 4) {
      throw new Error(`${ADAMW_MANY}: expects p, g, m, v per parameter, then the scale, and one decay per parameter; got ${tensors.length + 1} inputs and ${Array.isArray(decays) ? decays.length : 'no'} decays`)
    }
    const shapes: number[][] = []
    for (let i = 0; i < tensors.length; i += 4) {
      const [param, grad, m, v] = tensors.slice(i, i + 4)
      adamwSize(param, grad, m, v, scale)
      shapes.push(param.shape, param.shape, param.shape)
    }
    const [beta1, beta2, sqrtBias2, eps, stepSize] = ['beta1', 'beta2', 'sqrtBias2', 'eps', 'stepSize'].map((k) => Number(attrs[k]))
    return run([...tensors, scale], shapes, (ins, outs) => {
      const arrays: Float32Array[] = []
      for (let i = 0; i < decays.length; i++) arrays.push(...ins.slice(4 * i, 4 * i + 4), ...outs.slice(3 * i, 3 * i + 3))
      native.adamwMany(arrays, decays, ins[ins.length - 1], beta1, beta2, sqrtBias2, eps, stepSize)
    })
  }
}

const ADDON_FUNCTIONS: (keyof OpsAddon)[] = ['rmsNorm', 'rmsNormGrad', 'swiglu', 'swigluGrad', 'logSoftmaxPick', 'logSoftmaxPickGrad', 'maskedSoftmax', 'maskedSoftmaxGrad', 'rope', 'gatherRows', 'scatterRows']

/**
 * Registers the fused kernels for `backendName`; false (nothing changes) without the addon, with
 * one built before them, or with WORKBENCH_FUSED_OPS=0 (the tfjs formulations with the native
 * matmul: to compare, or to rule the fused kernels out when looking for a bug).
 */
export function registerNativeOps(backendName: 'wasm' | 'cpu'): boolean {
  if (process.env.WORKBENCH_FUSED_OPS === '0') return false
  const addon = loadFastGemm() as unknown as Partial<OpsAddon> | null
  if (!addon || ADDON_FUNCTIONS.some((name) => typeof addon[name] !== 'function')) return false
  if (registered.has(backendName)) return true
  for (const [kernelName, body] of Object.entries(kernelBodies(addon as OpsAddon))) registerBody(kernelName, backendName, body)
  registered.add(backendName)
  // Optional: an addon built before the fused AdamW, Add, decoding attention, global norm or attention keeps its other fused kernels.
  if (typeof addon.adamw === 'function') {
    registerBody(ADAMW, backendName, adamwBody(addon as OpsAddon))
    adamwRegistered.add(backendName)
  }
  if (typeof addon.adamwMany === 'function') {
    registerBody(ADAMW_MANY, backendName, adamwManyBody(addon as OpsAddon))
    adamwManyRegistered.add(backendName)
  }
  if (typeof addon.add === 'function') {
    overrideKernel('Add', backendName, (fallback) => nativeAdd(addon as OpsAddon, fallback, memoryOf(backendName)))
  }
  if (typeof addon.decodeAttention === 'function') {
    registerBody(DECODE_ATTENTION, backendName, decodeAttentionBody(addon as OpsAddon))
    decodeAttentionRegistered.add(backendName)
  }
  if (typeof addon.sumSquares === 'function') {
    registerBody(GLOBAL_NORM, backendName, globalNormBody(addon as OpsAddon))
    globalNormRegistered.add(backendName)
  }
  if (typeof addon.attention === 'function' && typeof addon.attentionGrad === 'function') {
    for (const [kernelName, body] of Object.entries(attentionBodies(addon as OpsAddon))) registerBody(kernelName, backendName, body)
    attentionRegistered.add(backendName)
  }
  if (typeof addon.blockForward === 'function' && typeof addon.blockBackward === 'function' && typeof addon.blockScratch === 'function' && typeof addon.blockSaved === 'function') {
    for (const [kernelName, body] of Object.entries(blockBodies(addon as OpsAddon))) registerBody(kernelName, backendName, body)
    blockRegistered.add(backendName)
  }
  return true
}

/** Registers one kernel body for a backend, with that backend's memory helper. */
function registerBody(kernelName: string, backendName: 'wasm' | 'cpu', body: NativeBody): void {
  const withMemory = memoryOf(backendName)
  tf.registerKernel({
    kernelName,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) =>
      body(inputs as Record<string, tf.TensorInfo>, attrs ?? {}, (ins, outShapes, run) => withMemory(backend, ins, outShapes, run),
        (output) => (backend as { disposeData(dataId: unknown): void }).disposeData(output.dataId))) as unknown as tf.KernelFunc,
  })
}
