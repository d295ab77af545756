// Causal self-attention with grouped-query heads for a full-sequence forward pass (training,
// evaluation: no KV cache, no padding): per head, softmax(q k^T / sqrt(hd) + causal mask) v, with
// query head h reading kv head h / (H / Hkv). On wasm and cpu with the native addon it is one
// fused kernel each way (core/backend/kernels/nativeOps.ts; native/fastgemm/gemm.c "Fused causal
// self-attention") working on the [B*T, heads*hd] layout the projections make and o_proj takes:
// no head transposes, no mask tensor, no separate scale and softmax kernels (48 tfjs kernels per
// layer and training step, 10 of them transposes, become 2). Decoding one token per row against a
// preallocated KV cache is one kernel too (decodeAttentionFused). Elsewhere, or with WORKBENCH_FUSED_ATTENTION=0, the model
// takes its tfjs formulation (llama.ts groupedAttention), which the kernels are tested against.
import { tf } from '../../backend/tf'
import { ATTENTION, ATTENTION_GRAD, DECODE_ATTENTION, nativeAttentionActive, nativeDecodeAttentionActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/** The head layout of q [B*T, heads*hd] and k, v [B*T, kvHeads*hd]. */
export interface AttentionHeads {
  seq: number
  heads: number
  kvHeads: number
}

/**
 * True when the fused kernels serve the current backend and are not switched off. The switch is
 * read at every call, so one process can alternate both paths (bench/attentionAB.ts).
 */
export function fusedAttentionActive(): boolean {
  return nativeAttentionActive() && process.env.WORKBENCH_FUSED_ATTENTION !== '0'
}

/**
 * The fused native kernels, forward and backward. q: [B*T, H*hd]; k, v: [B*T, Hkv*hd] (after RoPE).
 * Returns [B*T, H*hd]. The forward keeps the probabilities [B, H, T, T] for the backward (as the
 * tfjs path's softmax does) instead of recomputing them.
 */
export function causalAttentionFused(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, { seq, heads, kvHeads }: AttentionHeads): tf.Tensor2D {
  const attrs = { seq, heads, kvHeads }
  const op = customOp(([qIn, kIn, vIn], save) => {
    const [out, probs] = tf.engine().runKernel(ATTENTION, { q: qIn, k: kIn, v: vIn }, attrs) as tf.Tensor[] // [B*T, H*hd], [B, H, T, T]
    save([qIn, kIn, vIn, probs])
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [qs, ks, vs, ps] = saved
      return tf.engine().runKernel(ATTENTION_GRAD, { q: qs, k: ks, v: vs, probs: ps, dy }, attrs) as tf.Tensor[] // [B*T, H*hd], [B*T, Hkv*hd], [B*T, Hkv*hd]
    }
    return { value: out, gradFunc }
  })
  return op(q, k, v) as tf.Tensor2D
}

/** True when decoding attention runs as one native kernel here (the same switch as the training kernel). */
export function fusedDecodeAttentionActive(): boolean {
  return nativeDecodeAttentionActive() && process.env.WORKBENCH_FUSED_ATTENTION !== '0'
}

/**
 * One new token per row against the KV cache's buffers, this step's keys and values already
 * written at column `last`: row b attends to its columns padding[b]..last. q: [B, H*hd]; kCache,
 * vCache: [B, Hkv, C, hd]. Returns [B, H*hd]. No gradient: decoding only.
 */
export function decodeAttentionFused(q: tf.Tensor2D, kCache: tf.Tensor4D, vCache: tf.Tensor4D, heads: AttentionHeads & { last: number; padding: readonly number[] }): tf.Tensor2D {
  const attrs = { heads: heads.heads, kvHeads: heads.kvHeads, last: heads.last, padding: [...heads.padding] }
  return tf.engine().runKernel(DECODE_ATTENTION, { q, kCache, vCache }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D
}
