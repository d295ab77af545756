// Hugging Face interop: the mapping between the workbench LlamaConfig and a transformers
// `config.json` (LlamaForCausalLM), and the import of a Hugging Face model folder already on disk
// (config.json + model.safetensors, or sharded model-0000i-of-0000n.safetensors with
// model.safetensors.index.json, + tokenizer.json).
//
// Tensor names need no mapping: the workbench names its weights exactly as LlamaForCausalLM and
// uses the same rotate_half RoPE layout, so q_proj / k_proj need no permutation.
// Anything the workbench cannot run exactly (other architectures, sliding windows, RoPE scaling,
// biases, quantisation) is refused with an error that says what and where, rather than loaded
// into a model that would silently compute something else.

import fs from 'node:fs'
import path from 'node:path'
import { resolveModelConfig, type LlamaConfig } from './config'
import { weightShapes } from './llama'
import { readSafetensors, readSafetensorsHeader, type RawTensor } from './safetensors'

/** A transformers config.json, as parsed JSON. */
export type HfConfigJson = Record<string, unknown>

export interface SpecialTokenIds {
  bos_token_id?: number
  eos_token_id?: number | number[]
  pad_token_id?: number
}

/**
 * What a folder holds: a language model (LlamaForCausalLM, perhaps with scalar heads beside it), or
 * a reward model saved as transformers' LlamaForSequenceClassification with one label (the trunk
 * plus `score.weight` [1, D], no lm_head).
 */
export type HfModelKind = 'lm' | 'reward'

/** Tensors that may sit beside a Llama trunk in a workbench checkpoint: the scalar heads. */
const HEAD_TENSOR = /^(score|value_head)\./
/** Buffers old transformers versions saved; recomputed from rope_theta, so dropped. */
const IGNORED_TENSOR = /\.rotary_emb\.inv_freq$/

// ---------------------------------------------------------------------------------------------
// config.json

/**
 * The transformers config.json for a workbench model (float32 weights, plain RoPE, no biases). A
 * reward model is written as LlamaForSequenceClassification with one label, as TRL saves them.
 */
export function llamaConfigToHf(cfg: LlamaConfig, ids: SpecialTokenIds = {}, kind: HfModelKind = 'lm'): HfConfigJson {
  const out: HfConfigJson = {
    architectures: [kind === 'reward' ? 'LlamaForSequenceClassification' : 'LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: cfg.vocab_size,
    hidden_size: cfg.dim,
    intermediate_size: cfg.hidden_dim,
    num_hidden_layers: cfg.n_layers,
    num_attention_heads: cfg.n_heads,
    num_key_value_heads: cfg.n_kv_heads,
    head_dim: cfg.dim / cfg.n_heads,
    hidden_act: 'silu',
    max_position_embeddings: cfg.max_seq_len,
    rms_norm_eps: cfg.norm_eps,
    rope_theta: cfg.rope_theta,
    rope_scaling: null,
    tie_word_embeddings: cfg.tie_embeddings,
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    pretraining_tp: 1,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: 'float32',
  }
  if (kind === 'reward') {
    out.id2label = { 0: 'LABEL_0' }
    out.label2id = { LABEL_0: 0 }
  }
  for (const key of ['bos_token_id', 'eos_token_id', 'pad_token_id'] as const) {
    if (ids[key] !== undefined) out[key] = ids[key]
  }
  return out
}

/**
 * A workbench LlamaConfig from a transformers config.json. Every reason the model cannot be run
 * exactly is collected into one error that names the file and the keys.
 */
export function hfConfigToLlama(json: unknown, source = 'config.json'): LlamaConfig {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${source}: expected a JSON object`)
  const c = json as HfConfigJson
  const problems = [...architectureProblems(c), ...featureProblems(c)]
  const num = (key: string, fallback?: number): number => {
    const value = c[key] ?? fallback
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      problems.push(value === undefined ? `"${key}" is missing` : `"${key}" must be a number, got ${JSON.stringify(value)}`)
      return NaN
    }
    return value
  }
  const dim = num('hidden_size')
  const nHeads = num('num_attention_heads')
  const hidden = num('intermediate_size')
  const partial: LlamaConfig = {
    vocab_size: num('vocab_size'),
    dim,
    n_layers: num('num_hidden_layers'),
    n_heads: nHeads,
    n_kv_heads: num('num_key_value_heads', nHeads),
    hidden_dim: hidden,
    multiple_of: largestPowerOfTwoDividing(hidden, 256),
    // transformers' LlamaConfig defaults, used when the file leaves a key out.
    norm_eps: num('rms_norm_eps', 1e-6),
    rope_theta: num('rope_theta', 10000),
    max_seq_len: num('max_position_embeddings', 2048),
    tie_embeddings: false,
  }
  const tie = c.tie_word_embeddings ?? false
  if (typeof tie !== 'boolean') problems.push(`"tie_word_embeddings" must be true or false, got ${JSON.stringify(tie)}`)
  else partial.tie_embeddings = tie
  // A sequence classifier has no lm_head: the trunk runs with the embedding as its output matrix
  // (tied), so the model is complete; its language-model logits mean nothing and are not used.
  if (hfModelKind(c) === 'reward') partial.tie_embeddings = true
  if (c.head_dim !== undefined && c.head_dim !== null && c.head_dim !== dim / nHeads) {
    problems.push(`"head_dim" ${JSON.stringify(c.head_dim)} differs from hidden_size / num_attention_heads = ${dim / nHeads} (not supported)`)
  }
  if (problems.length > 0) throw new Error(`${source}: cannot import this model:\n  - ${problems.join('\n  - ')}`)
  try {
    return resolveModelConfig(partial)
  } catch (err) {
    throw new Error(`${source}: ${(err as Error).message}`)
  }
}

/** 'reward' for a LlamaForSequenceClassification config.json, else 'lm'. */
export function hfModelKind(c: HfConfigJson): HfModelKind {
  return Array.isArray(c.architectures) && c.architectures.includes('LlamaForSequenceClassification') ? 'reward' : 'lm'
}

/** Labels of a sequence classifier: num_labels when given, else the size of id2label (what transformers saves). */
function labelCount(c: HfConfigJson): number | undefined {
  if (typeof c.num_labels === 'number') return c.num_labels
  if (c.id2label && typeof c.id2label === 'object') return Object.keys(c.id2label).length
  return undefined
}

function architectureProblems(c: HfConfigJson): string[] {
  const archs = Array.isArray(c.architectures) ? c.architectures.map(String) : []
  const modelType = typeof c.model_type === 'string' ? c.model_type : undefined
  const described = `${archs.length > 0 ? archs.join(', ') : '(no architectures)'} (model_type ${modelType ?? 'missing'})`
  if (archs.includes('LlamaForCausalLM') || (archs.length === 0 && modelType === 'llama')) return []
  if (archs.includes('LlamaForSequenceClassification')) {
    const labels = labelCount(c)
    if (labels === undefined || labels === 1) return []
    return [`LlamaForSequenceClassification with ${labels} labels is not supported: a reward model has one (num_labels 1)`]
  }
  if (archs.includes('MistralForCausalLM')) {
    // Mistral is Llama plus sliding-window attention; without a window it computes the same thing.
    const window = c.sliding_window
    const maxPos = typeof c.max_position_embeddings === 'number' ? c.max_position_embeddings : Infinity
    if (window === null || window === undefined || (typeof window === 'number' && window >= maxPos)) return []
    return [`MistralForCausalLM with sliding_window ${JSON.stringify(window)} < max_position_embeddings ${maxPos}: sliding-window attention is not supported`]
  }
  return [`architecture ${described} is not supported: the workbench imports Llama models (LlamaForCausalLM, or LlamaForSequenceClassification with one label) only`]
}

function featureProblems(c: HfConfigJson): string[] {
  const problems: string[] = []
  if (c.rope_scaling !== undefined && c.rope_scaling !== null) {
    problems.push(`"rope_scaling" ${JSON.stringify(c.rope_scaling)} is not supported (only plain RoPE, rope_scaling null)`)
  }
  if (c.attention_bias === true) problems.push('"attention_bias" true is not supported (Llama has no biases)')
  if (c.mlp_bias === true) problems.push('"mlp_bias" true is not supported (Llama has no biases)')
  const act = c.hidden_act ?? 'silu'
  if (act !== 'silu') problems.push(`"hidden_act" ${JSON.stringify(act)} is not supported (SwiGLU uses silu)`)
  if (c.quantization_config !== undefined && c.quantization_config !== null) {
    problems.push('"quantization_config" is set: quantised checkpoints are not supported (use float32/float16/bfloat16 weights)')
  }
  return problems
}

/** multiple_of is not in config.json; pick the largest power of two (<= cap) dividing hidden. */
function largestPowerOfTwoDividing(n: number, cap: number): number {
  let m = cap
  while (m > 1 && (!Number.isInteger(n) || n % m !== 0)) m /= 2
  return m
}

// ---------------------------------------------------------------------------------------------
// Weight files

/**
 * The safetensors files of a model folder, with the tensor names each should hold (null: all).
 * Refuses pickled PyTorch, TensorFlow, Flax and GGUF weights with a clear way forward.
 */
export function findWeightFiles(dir: string): Array<{ file: string; names: string[] | null }> {
  const index = path.join(dir, 'model.safetensors.index.json')
  const single = path.join(dir, 'model.safetensors')
  if (fs.existsSync(index)) return shardsFromIndex(index)
  if (fs.existsSync(single)) return [{ file: single, names: null }]

  const present = fs.existsSync(dir) ? fs.readdirSync(dir) : []
  if (present.some((f) => /^pytorch_model.*\.bin$/.test(f) || f === 'pytorch_model.bin.index.json')) {
    throw new Error(
      `${dir}: has pytorch_model.bin (a Python pickle), which the workbench does not load (unsafe and needs PyTorch). ` +
        'Convert it to safetensors first, e.g. in Python: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, safe_serialization=True)',
    )
  }
  const other = present.find((f) => /\.(h5|msgpack|gguf|ggml|pt|pth|ckpt)$/.test(f))
  if (other) throw new Error(`${dir}: weights in ${other} are not supported: the workbench loads model.safetensors (convert to safetensors first)`)
  throw new Error(`${dir}: no model.safetensors or model.safetensors.index.json found`)
}

function shardsFromIndex(indexPath: string): Array<{ file: string; names: string[] }> {
  let index: { weight_map?: Record<string, unknown> }
  try {
    index = JSON.parse(fs.readFileSync(indexPath, 'utf8'))
  } catch (err) {
    throw new Error(`${indexPath}: cannot read the shard index (${(err as Error).message})`)
  }
  const map = index.weight_map
  if (!map || typeof map !== 'object') throw new Error(`${indexPath}: "weight_map" is missing`)
  const byFile = new Map<string, string[]>()
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || file.includes('/') || file.includes('\\') || !file.endsWith('.safetensors')) {
      throw new Error(`${indexPath}: weight_map["${name}"] = ${JSON.stringify(file)} is not a .safetensors file in this folder`)
    }
    const names = byFile.get(file) ?? []
    names.push(name)
    byFile.set(file, names)
  }
  const dir = path.dirname(indexPath)
  return [...byFile.entries()].map(([file, names]) => {
    const full = path.join(dir, file)
    if (!fs.existsSync(full)) throw new Error(`${indexPath}: shard ${file} (holding ${names[0]} and ${names.length - 1} more) is missing`)
    return { file: full, names }
  })
}

/** Names and shapes of every tensor in the folder's weight files, read from headers only. */
export function readWeightShapes(dir: string): Record<string, { shape: number[]; file: string }> {
  const out: Record<string, { shape: number[]; file: string }> = {}
  for (const { file, names } of findWeightFiles(dir)) {
    const header = readSafetensorsHeader(file)
    for (const name of names ?? Object.keys(header.tensors)) {
      const entry = header.tensors[name]
      if (!entry) throw new Error(`${file}: tensor "${name}" is listed in model.safetensors.index.json but not in this shard`)
      out[name] = { shape: entry.shape, file }
    }
  }
  return out
}

/**
 * Checks tensor names and shapes against the config. Returns which names are model weights,
 * which are scalar heads to pass through, and which are dropped; throws one error listing every
 * missing, misshapen or unexpected tensor otherwise.
 */
export function checkWeightShapes(
  cfg: LlamaConfig,
  found: Record<string, { shape: number[]; file?: string }>,
  source: string,
): { weights: string[]; heads: string[]; dropped: string[] } {
  const expected = weightShapes(cfg)
  const problems: string[] = []
  for (const [name, shape] of Object.entries(expected)) {
    const got = found[name]
    if (!got) problems.push(`missing tensor ${name} (expected shape [${shape.join(', ')}])`)
    else if (got.shape.join(',') !== shape.join(',')) {
      problems.push(`tensor ${name} has shape [${got.shape.join(', ')}] but config.json implies [${shape.join(', ')}]${got.file ? ` (in ${path.basename(got.file)})` : ''}`)
    }
  }
  const heads: string[] = []
  const dropped: string[] = []
  for (const name of Object.keys(found)) {
    if (name in expected) continue
    if (IGNORED_TENSOR.test(name)) dropped.push(name)
    else if (name === 'lm_head.weight' && cfg.tie_embeddings) dropped.push(name) // tied: the embedding is used
    else if (HEAD_TENSOR.test(name)) heads.push(name)
    else if (name.endsWith('.bias')) problems.push(`tensor ${name}: biases are not supported (Llama has none)`)
    else problems.push(`unexpected tensor ${name} [${found[name].shape.join(', ')}] (not part of LlamaForCausalLM)`)
  }
  if (problems.length > 0) {
    const shown = problems.length > 12 ? [...problems.slice(0, 12), `... and ${problems.length - 12} more`] : problems
    throw new Error(`${source}: weights do not match config.json:\n  - ${shown.join('\n  - ')}`)
  }
  return { weights: Object.keys(expected), heads, dropped }
}

/** Reads the named tensors from the folder's weight files (all converted to float32/int32). */
export function readWeights(dir: string, wanted: Set<string>): Record<string, RawTensor> {
  const out: Record<string, RawTensor> = {}
  for (const { file } of findWeightFiles(dir)) {
    const { tensors } = readSafetensors(file)
    for (const [name, t] of Object.entries(tensors)) {
      if (wanted.has(name)) out[name] = t
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Folder import

export interface HfFolder {
  kind: HfModelKind
  config: LlamaConfig
  /** The parsed config.json. */
  hfConfig: HfConfigJson
  /** Llama weights, float32 plain data, exactly the names Llama.fromWeights expects. */
  weights: Record<string, RawTensor>
  /** Scalar-head tensors (score.*, value_head.*) found beside the trunk. */
  heads: Record<string, RawTensor>
  tokenizerPath?: string
  specialTokenIds: SpecialTokenIds
  /** Things the user should know that do not stop the import. */
  warnings: string[]
}

/** Validates and reads a Hugging Face Llama folder (config and all shapes are checked before any data is read). */
export function readHfFolder(dir: string): HfFolder {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${dir}: not a folder`)
  const configPath = path.join(dir, 'config.json')
  if (!fs.existsSync(configPath)) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`)
  let hfConfig: HfConfigJson
  try {
    hfConfig = JSON.parse(fs.readFileSync(configPath, 'utf8'))
  } catch (err) {
    throw new Error(`${configPath}: not valid JSON (${(err as Error).message})`)
  }
  const config = hfConfigToLlama(hfConfig, configPath)
  const { weights, heads } = checkWeightShapes(config, readWeightShapes(dir), dir)
  const kind = hfModelKind(hfConfig)
  if (kind === 'reward' && !heads.includes('score.weight')) {
    throw new Error(`${dir}: config.json says LlamaForSequenceClassification, but the weights have no score.weight (the reward head, shape [1, ${config.dim}])`)
  }
  const raw = readWeights(dir, new Set([...weights, ...heads]))
  const pick = (names: string[]) => Object.fromEntries(names.map((n) => [n, raw[n]]))

  const warnings: string[] = []
  const tokenizerJson = path.join(dir, 'tokenizer.json')
  const tokenizerPath = fs.existsSync(tokenizerJson) ? tokenizerJson : undefined
  if (!tokenizerPath) {
    warnings.push(fs.existsSync(path.join(dir, 'tokenizer.model'))
      ? `${dir}: has only tokenizer.model (SentencePiece); the workbench needs tokenizer.json (save the tokenizer with a fast tokenizer to get one)`
      : `${dir}: no tokenizer.json`)
  }
  return { kind, config, hfConfig, weights: pick(weights), heads: pick(heads), tokenizerPath, specialTokenIds: specialIdsOf(hfConfig), warnings }
}

function specialIdsOf(c: HfConfigJson): SpecialTokenIds {
  const ids: SpecialTokenIds = {}
  if (typeof c.bos_token_id === 'number') ids.bos_token_id = c.bos_token_id
  if (typeof c.eos_token_id === 'number' || Array.isArray(c.eos_token_id)) ids.eos_token_id = c.eos_token_id as number | number[]
  if (typeof c.pad_token_id === 'number') ids.pad_token_id = c.pad_token_id
  return ids
}
