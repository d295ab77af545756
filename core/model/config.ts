// The Llama model configuration: Hugging Face-like snake_case keys, defaults, validation, presets,
// parameter count and a rough memory estimate for the app's preview.

export interface LlamaConfig {
  vocab_size: number
  /** Model width (HF hidden_size). */
  dim: number
  n_layers: number
  n_heads: number
  /** Key/value heads: n_heads for plain multi-head attention, 1 for multi-query, between for GQA. */
  n_kv_heads: number
  /** SwiGLU inner width (HF intermediate_size). */
  hidden_dim: number
  /** hidden_dim is rounded up to a multiple of this when derived from dim. */
  multiple_of: number
  norm_eps: number
  rope_theta: number
  max_seq_len: number
  /** Share the embedding matrix with the output projection (no lm_head.weight). */
  tie_embeddings: boolean
}

export const MODEL_CONFIG_DEFAULTS = {
  multiple_of: 32,
  norm_eps: 1e-5,
  rope_theta: 10000,
  max_seq_len: 2048,
  tie_embeddings: false,
}

export const MODEL_PRESETS: Record<'tiny' | 'small', LlamaConfig> = {
  // About 0.92M parameters: the model TFJS-NOTES.md measured (hidden 384).
  tiny: resolveModelConfig({ vocab_size: 512, dim: 128, n_layers: 4, n_heads: 4, n_kv_heads: 2, multiple_of: 128, max_seq_len: 128 }),
  // llama2.c's "stories15M" shape (dim 288, 6 layers, 6 heads, hidden 768) with a 4k vocabulary.
  small: resolveModelConfig({ vocab_size: 4096, dim: 288, n_layers: 6, n_heads: 6, n_kv_heads: 6, max_seq_len: 256 }),
}

/** Llama's rule: 2/3 of 4*dim, rounded up to a multiple of multiple_of. */
export function defaultHiddenDim(dim: number, multipleOf: number): number {
  const hidden = Math.floor((2 * 4 * dim) / 3)
  return multipleOf * Math.ceil(hidden / multipleOf)
}

/** Fills defaults and validates; every problem is reported in one error. */
export function resolveModelConfig(partial: Partial<LlamaConfig>): LlamaConfig {
  const problems: string[] = []
  const known = new Set(['vocab_size', 'dim', 'n_layers', 'n_heads', 'n_kv_heads', 'hidden_dim', 'multiple_of', 'norm_eps', 'rope_theta', 'max_seq_len', 'tie_embeddings'])
  for (const key of Object.keys(partial)) {
    if (!known.has(key)) problems.push(`unknown key "${key}"`)
  }
  for (const key of ['vocab_size', 'dim', 'n_layers', 'n_heads'] as const) {
    if (partial[key] === undefined) problems.push(`${key} is required`)
  }
  const multipleOf = partial.multiple_of ?? MODEL_CONFIG_DEFAULTS.multiple_of
  const cfg: LlamaConfig = {
    vocab_size: partial.vocab_size ?? 0,
    dim: partial.dim ?? 0,
    n_layers: partial.n_layers ?? 0,
    n_heads: partial.n_heads ?? 0,
    n_kv_heads: partial.n_kv_heads ?? partial.n_heads ?? 0,
    hidden_dim: partial.hidden_dim ?? defaultHiddenDim(partial.dim ?? 0, multipleOf),
    multiple_of: multipleOf,
    norm_eps: partial.norm_eps ?? MODEL_CONFIG_DEFAULTS.norm_eps,
    rope_theta: partial.rope_theta ?? MODEL_CONFIG_DEFAULTS.rope_theta,
    max_seq_len: partial.max_seq_len ?? MODEL_CONFIG_DEFAULTS.max_seq_len,
    tie_embeddings: partial.tie_embeddings ?? MODEL_CONFIG_DEFAULTS.tie_embeddings,
  }
  if (problems.length === 0) problems.push(...validate(cfg))
  if (problems.length > 0) throw new Error(`invalid model config:\n  - ${problems.join('\n  - ')}`)
  return cfg
}

function validate(cfg: LlamaConfig): string[] {
  const problems: string[] = []
  for (const key of ['vocab_size', 'dim', 'n_layers', 'n_heads', 'n_kv_heads', 'hidden_dim', 'multiple_of', 'max_seq_len'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) problems.push(`${key} must be a positive integer, got ${cfg[key]}`)
  }
  for (const key of ['norm_eps', 'rope_theta'] as const) {
    if (typeof cfg[key] !== 'number' || !(cfg[key] > 0)) problems.push(`${key} must be a positive number, got ${cfg[key]}`)
  }
  if (typeof cfg.tie_embeddings !== 'boolean') problems.push(`tie_embeddings must be true or false, got ${cfg.tie_embeddings}`)
  if (problems.length > 0) return problems
  if (cfg.dim % cfg.n_heads !== 0) problems.push(`dim ${cfg.dim} is not divisible by n_heads ${cfg.n_heads}`)
  if (cfg.n_heads % cfg.n_kv_heads !== 0) problems.push(`n_heads ${cfg.n_heads} is not divisible by n_kv_heads ${cfg.n_kv_heads}`)
  const headDim = cfg.dim / cfg.n_heads
  if (Number.isInteger(headDim) && headDim % 2 !== 0) problems.push(`head_dim ${headDim} (dim / n_heads) must be even for rotary embeddings`)
  return problems
}

export function headDim(cfg: LlamaConfig): number {
  return cfg.dim / cfg.n_heads
}

/** Exact number of parameters of LlamaForCausalLM with this config. */
export function countParameters(cfg: LlamaConfig): number {
  const kvDim = cfg.n_kv_heads * headDim(cfg)
  const attention = cfg.dim * cfg.dim * 2 + cfg.dim * kvDim * 2 // q, o + k, v
  const mlp = 3 * cfg.dim * cfg.hidden_dim // gate, up, down
  const norms = 2 * cfg.dim
  const embeddings = cfg.vocab_size * cfg.dim * (cfg.tie_embeddings ? 1 : 2)
  return cfg.n_layers * (attention + mlp + norms) + cfg.dim + embeddings
}

export interface MemoryEstimate {
  /** Weights + gradients + two Adam moments, float32. */
  parametersBytes: number
  /** What the backward pass holds at its peak, float32 (fitted to measurements, see below). */
  activationsBytes: number
  /** Node, tfjs and the wasm module, before any tensor. */
  runtimeBytes: number
  /** The extra threads' share: a runtime and a weight copy per gradient worker, packing buffers per kernel thread. */
  threadsBytes: number
  totalBytes: number
}

/** How a run uses its threads (core/train/parallel/threads.ts threadPlan). */
export interface ThreadShare {
  /** Gradient workers besides the main thread (each holds a model replica). */
  workers: number
  /** Threads inside each native matmul. */
  kernelThreads: number
}

/** A Node process with tfjs and the wasm backend loaded (measured maxRSS: about 175 MB). */
const RUNTIME_BYTES = 175 * 2 ** 20
/** A gradient worker's own Node isolate, tfjs and wasm module (measured: about 100-130 MB). */
const WORKER_RUNTIME_BYTES = 100 * 2 ** 20
/**
 * Floats per parameter a gradient worker adds (fitted: peak RSS with one worker rose 105 MB on the
 * tiny preset, 0.9M parameters, and 426 MB on small, 8.3M): its variables, the weights it reads
 * from shared memory each step, its gradients and their tape, the shared gradient buffer.
 */
const WORKER_FLOATS_PER_PARAM = 11
/** A native matmul thread's packing buffers (native/fastgemm/gemm.c: MC x KC + KC x NC floats). */
const KERNEL_THREAD_BYTES = (96 * 256 + 256 * 2048) * 4

/**
 * Per layer and token, floats the backward pass holds per model dim and per hidden unit: with the
 * fused native RMSNorm and SwiGLU kernels (fewer intermediates), and with the tfjs formulations.
 */
const ACTIVATION_FLOATS = { fused: { perDim: 55, perHidden: 6 }, tfjs: { perDim: 74, perHidden: 8 } }

/**
 * Training memory for the app's preview and the pre-run check, as peak resident memory of the
 * process: the runtime, float32 weights, gradients and Adam's two moments, what the backward pass
 * holds, and each extra thread's share. tfjs keeps every intermediate of the forward pass and of
 * the gradient computation until the step ends, so the activation term is fitted to measurements
 * (maxRSS of wasm training steps on configs from dim 64 to 288, seq 64 to 256, batch 1 to 16;
 * within 10%, see tests/core/memory-estimate.test.ts): per layer and token ACTIVATION_FLOATS per
 * model dim and hidden unit, 5 per attention score, and 4.3 per logit. `nativeKernels`: the fused
 * native kernels are in use (the addon is built). Gradient workers split the batch, so
 * activations do not grow with them, but each holds its runtime and copies of the weights and
 * gradients (WORKER_FLOATS_PER_PARAM).
 */
export function estimateMemoryBytes(cfg: LlamaConfig, batch: number, seq: number, threads: ThreadShare = { workers: 0, kernelThreads: 1 }, nativeKernels = true): MemoryEstimate {
  const bytes = 4
  const params = countParameters(cfg)
  const parametersBytes = params * 4 * bytes
  const tokens = batch * seq
  const floats = nativeKernels ? ACTIVATION_FLOATS.fused : ACTIVATION_FLOATS.tfjs
  const perLayer = tokens * (floats.perDim * cfg.dim + floats.perHidden * cfg.hidden_dim) + 5 * batch * cfg.n_heads * seq * seq
  const logits = 4.3 * tokens * cfg.vocab_size
  const activationsBytes = Math.round((cfg.n_layers * perLayer + logits) * bytes)
  const threadsBytes = threads.workers * (WORKER_RUNTIME_BYTES + params * WORKER_FLOATS_PER_PARAM * bytes) + Math.max(0, threads.kernelThreads - 1) * KERNEL_THREAD_BYTES
  return { parametersBytes, activationsBytes, runtimeBytes: RUNTIME_BYTES, threadsBytes, totalBytes: RUNTIME_BYTES + parametersBytes + activationsBytes + threadsBytes }
}
