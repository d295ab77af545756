// How much memory a training step takes, for the New run form's preview and the preflight's "does
// it fit" check: ONE estimate for every stage that trains a Llama (pretraining from scratch, and
// every stage that fine-tunes a checkpoint, fully or with LoRA).
//
// float32 throughout. The parts:
//   weights      the trunk (+ the adapters, for LoRA)
//   gradients    one per trained parameter (the trunk, or only the adapters)
//   optimiser    AdamW's two moments per trained parameter
//   activations  what the backward pass holds at its peak: the tensors kept for gradients and the
//                intermediate gradients, which tfjs keeps until the backward pass ends.
//   runtime      Node, tfjs and the wasm module before any tensor (measured maxRSS ~175 MB), so the
//                total compares with the process's peak resident memory.
//   threads      the extra threads' share: each gradient worker's runtime and model copy, each
//                native matmul thread's packing buffers (core/train/parallel/threads.ts threadPlan).
//
// The activation coefficients are floats per token, counted with core/backend/bufferMeter.ts on
// the wasm backend (tfjs 4.22) over nine model shapes (each of layers, dim, kv heads, hidden,
// heads, vocabulary, sequence and batch varied alone; a least-squares fit was within 0.3% of every
// one), with the native matmul active (the XNNPACK path keeps up to ~18% more for full
// fine-tuning: its linear op saves more); ACTIVATION_FLOATS holds the terms with each layer as one
// native op, with the fused native kernels and the fused attention, with the fused kernels and
// tfjs's attention, and without any.
// Full fine-tuning keeps every layer's activations; LoRA over a frozen trunk keeps each
// layer's input and recomputes one layer at a time in the backward pass (kernels/recompute.ts).
// tests/core/memory-estimate.test.ts checks the estimate against measured peaks; the bench
// (bench/lora.ts) prints both for the small preset.
import { countParameters, headDim, type LlamaConfig } from '../model/config'
import { linearShapes, type LoraTarget } from '../model/lora'
import { loadFastGemm } from '../backend/kernels/nativeMatMul'
import type { StageEstimate } from './stages/types'

const FLOAT = 4

export interface TrainingShape {
  /** Sequences in one forward/backward pass (a micro-batch). */
  batch: number
  /** Tokens per sequence. */
  seq: number
  /**
   * LoRA adapters over a frozen trunk; absent: every weight trains. `recompute` (default true):
   * the layers are recomputed in the backward pass (a LoRA training loop step; PPO's update keeps them).
   * `dropout` (default 0): on the adapter input while training; at 0 each layer runs as the fused
   * block on its merged weights (core/model/lora.ts `merged`), above 0 as separate kernels.
   */
  lora?: { rank: number; targets: readonly LoraTarget[]; recompute?: boolean; dropout?: number }
  /** False when the loss needs no [tokens, vocab] logits (a reward model's score head). Default true. */
  logits?: boolean
  /** How the run uses its threads; default one thread. */
  threads?: ThreadShare
  /** The fused native kernels are in use; default: the native addon is built (as training uses it). */
  fusedKernels?: boolean
  /**
   * With fusedKernels, the fused causal attention too (core/model/kernels/causalAttention.ts);
   * default: the addon has it and WORKBENCH_FUSED_ATTENTION is not 0.
   */
  fusedAttention?: boolean
  /**
   * With fusedAttention, each layer as one native op each way (core/model/kernels/block.ts; with
   * LoRA only without dropout, on merged weights); default: the addon has it and
   * WORKBENCH_FUSED_BLOCK is not 0.
   */
  fusedBlock?: boolean
}

/** How a run uses its threads (core/train/parallel/threads.ts threadPlan gives one). */
export interface ThreadShare {
  /** Gradient workers besides the main thread (each holds a model replica). */
  workers: number
  /** Threads inside each native matmul. */
  kernelThreads: number
}

/** A Node process with tfjs and the wasm backend loaded (measured maxRSS: about 175 MB). */
export const RUNTIME_BYTES = 175 * 2 ** 20
/** A gradient worker's own Node isolate, tfjs and wasm module (measured: about 100-130 MB). */
const WORKER_RUNTIME_BYTES = 100 * 2 ** 20
/**
 * Floats per parameter a gradient worker adds (fitted: peak RSS with one worker rose 105 MB on the
 * tiny preset, 0.9M parameters, and 426 MB on small, 8.3M): its variables, the weights it reads
 * from shared memory each step, its gradients and their tape, the shared gradient buffer.
 */
const WORKER_FLOATS_PER_PARAM = 11
/** A native matmul thread's packing buffers (native/fastgemm/gemm.c: MC x KC + KC x NC floats). */
const KERNEL_THREAD_BYTES = (96 * 256 + 256 * 2048) * FLOAT

/** The extra threads' share of memory: a runtime and model copy per worker, buffers per kernel thread. */
export function threadsBytes(params: number, threads: ThreadShare = { workers: 0, kernelThreads: 1 }): number {
  return threads.workers * (WORKER_RUNTIME_BYTES + params * WORKER_FLOATS_PER_PARAM * FLOAT) + Math.max(0, threads.kernelThreads - 1) * KERNEL_THREAD_BYTES
}

/** Parameters of rank-r adapters (A [r, in], B [out, r]) on `targets` in every layer. */
export function adapterParameters(model: LlamaConfig, rank: number, targets: readonly LoraTarget[]): number {
  const shapes = linearShapes(model)
  const perLayer = [...new Set(targets)].reduce((n, t) => n + rank * (shapes[t][0] + shapes[t][1]), 0)
  return model.n_layers * perLayer
}

/**
 * Floats the backward pass holds, per token and model dim, KV width (kv heads x head dim) and hidden
 * unit, per attention score, per token and vocabulary entry (the logits), and per token and dim
 * outside the layers. `fused`: the native kernels (core/backend/kernels/nativeOps.ts: RMSNorm,
 * SwiGLU, log-softmax + pick, masked softmax, RoPE) keep fewer intermediates than the tfjs
 * formulations. Refitted with the meter after the fused log-softmax, softmax and RoPE landed (each
 * term varied alone: vocabulary, hidden, scores at equal tokens, kv heads, layers; a dim-64 check
 * within 3%). `fusedAttention`: the fused attention keeps q, k, v as the projections made them and
 * the probabilities (about one float per score), where the tfjs path keeps their head-transposed
 * copies, k^T, the scaled queries and the softmax's output; fitted the same way over ten shapes
 * (worst misfit 1.1% full, 4% recomputed), its recomputed terms as the fused ones moved by the fit's
 * difference between the two. `fusedBlock`: a layer keeps its input and what blockForward saves (the
 * normed inputs, q, o, h; k, v; g, u and the gate's output; the probabilities) and its backward's
 * scratch lives for one layer at a time; fitted over nine shapes (layers, dim, kv heads, hidden,
 * sequence, batch and vocabulary varied alone; worst misfit 1.2%). Its recomputed terms are a LoRA
 * step's (no dropout: the block runs on merged weights, W + s B A, one layer's alive at a time in
 * the backward pass), fitted the same way over eight shapes around the tiny preset (worst misfit
 * 4.6% of the step's buffers); a LoRA step with dropout runs the per-kernel path (fusedAttention).
 */
const FUSED_ATTENTION = {
  full: { perDim: 20, perKv: 5, perHidden: 6, perScore: 1.2 },
  recomputed: { perDim: 20, perKv: 8, perHidden: 6, perScore: 1.5 },
  perLogit: 2,
  perDimOutside: 5,
}

const ACTIVATION_FLOATS = {
  // Only the layers differ: the loss and the embedding are fusedAttention's.
  fusedBlock: { ...FUSED_ATTENTION, full: { perDim: 7, perKv: 2, perHidden: 3, perScore: 1 }, recomputed: { perDim: 15, perKv: 3, perHidden: 3, perScore: 0.5 } },
  fusedAttention: FUSED_ATTENTION,
  fused: {
    full: { perDim: 25, perKv: 10.5, perHidden: 6, perScore: 3.5 },
    recomputed: { perDim: 26, perKv: 14, perHidden: 6, perScore: 4 },
    perLogit: 2,
    perDimOutside: 5,
  },
  tfjs: {
    full: { perDim: 43, perKv: 18, perHidden: 11, perScore: 5 },
    recomputed: { perDim: 54, perKv: 16, perHidden: 11, perScore: 5 },
    perLogit: 6,
    perDimOutside: 11,
  },
}

/** Which kernels the step runs on: the fused block, the fused kernels with or without the fused attention, or tfjs's alone. */
function kernelSet(shape: TrainingShape): keyof typeof ACTIVATION_FLOATS {
  const addon = loadFastGemm()
  if (!(shape.fusedKernels ?? addon !== null)) return 'tfjs'
  const attention = shape.fusedAttention ?? (addon !== null && 'attention' in addon && process.env.WORKBENCH_FUSED_ATTENTION !== '0')
  if (!attention) return 'fused'
  const block = shape.fusedBlock ?? (addon !== null && 'blockForward' in addon && process.env.WORKBENCH_FUSED_BLOCK !== '0')
  return block && (!shape.lora || mergesAdapters(shape)) ? 'fusedBlock' : 'fusedAttention'
}

/** LoRA without dropout: each layer runs on its weights merged with their adapters (core/model/lora.ts `merged`). */
function mergesAdapters(shape: TrainingShape): boolean {
  return shape.lora !== undefined && (shape.lora.dropout ?? 0) === 0
}

/** Floats the backward pass holds at its peak besides weights, gradients and moments. */
export function activationFloats(model: LlamaConfig, shape: TrainingShape): number {
  const tokens = shape.batch * shape.seq
  const d = tokens * model.dim
  const kv = tokens * model.n_kv_heads * headDim(model)
  const hidden = tokens * model.hidden_dim
  const scores = shape.batch * model.n_heads * shape.seq * shape.seq // attention probabilities
  const floats = ACTIVATION_FLOATS[kernelSet(shape)]
  const logits = shape.logits === false ? 0 : floats.perLogit * tokens * model.vocab_size
  const shapes = linearShapes(model)
  // Per layer: on the fused block, each adapted projection's merged weight [out, in]; on separate
  // kernels, the adapter's low-rank activations and their gradients.
  const fusedBlock = kernelSet(shape) === 'fusedBlock'
  const adapters = [...new Set(shape.lora?.targets ?? [])].reduce((n, t) => n + (fusedBlock ? shapes[t][0] * shapes[t][1] : 5.5 * tokens * (shapes[t][0] + shapes[t][1])), 0)
  const layer = (f: { perDim: number; perKv: number; perHidden: number; perScore: number }) => f.perDim * d + f.perKv * kv + f.perHidden * hidden + f.perScore * scores + adapters
  if (!shape.lora || shape.lora.recompute === false) return model.n_layers * layer(floats.full) + floats.perDimOutside * d + logits
  // Every layer's input is kept; one layer (forward and backward) is alive at a time.
  return 2 * model.n_layers * d + layer(floats.recomputed) + logits
}

/** The memory of training `model` on batch x seq tokens with AdamW, fully or with LoRA (float32). */
export function trainingMemory(model: LlamaConfig, shape: TrainingShape, notes: string[] = []): StageEstimate {
  const params = countParameters(model)
  const adapters = shape.lora ? adapterParameters(model, shape.lora.rank, shape.lora.targets) : 0
  const trainedParams = shape.lora ? adapters : params
  const weightsBytes = (params + adapters) * FLOAT
  const gradientBytes = trainedParams * FLOAT
  const optimizerBytes = 2 * trainedParams * FLOAT
  const activationBytes = activationFloats(model, shape) * FLOAT
  const threadBytes = threadsBytes(params, shape.threads)
  const how = shape.lora
    ? `LoRA r=${shape.lora.rank} on ${shape.lora.targets.join(', ')}: the trunk is frozen, ${trainedParams.toLocaleString('en-US')} adapter parameters train` +
      (shape.lora.recompute === false ? '' : '; each layer is recomputed in the backward pass')
    : 'every weight trains: weights + gradients + 2 AdamW moments + activations'
  return {
    params,
    trainedParams,
    weightsBytes,
    gradientBytes,
    optimizerBytes,
    activationBytes,
    runtimeBytes: RUNTIME_BYTES,
    threadsBytes: threadBytes,
    totalBytes: RUNTIME_BYTES + weightsBytes + gradientBytes + optimizerBytes + activationBytes + threadBytes,
    notes: [...notes, `float32, batch ${shape.batch} x sequence ${shape.seq}; ${how}; plus the runtime${threadBytes > 0 ? " and the threads' share" : ''}`],
  }
}
