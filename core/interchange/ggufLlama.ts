// A workbench Llama as a GGUF file for llama.cpp's "llama" architecture: tensor names, the Q/K
// row permutation, number formats, and the llama.* / tokenizer.* metadata llama.cpp reads.
import { headDim, type LlamaConfig } from '../model/config'
import { GgmlType, type GgmlTypeId, type GgufFile, type GgufTensor, type GgufValue } from './gguf'
import { toFloat16Bytes, toFloat32Bytes, toQ8_0Bytes, Q8_0_BLOCK } from './quantize'
import type { ExportVocab } from './vocab'

export type GgufDtype = 'f32' | 'f16' | 'q8_0'
export const GGUF_DTYPES: GgufDtype[] = ['f32', 'f16', 'q8_0']

/** llama_ftype: what general.file_type says about the file as a whole. */
const FILE_TYPE: Record<GgufDtype, number> = { f32: 0, f16: 1, q8_0: 7 }

export interface LlamaGgufInput {
  config: LlamaConfig
  /** Hugging Face LlamaForCausalLM names -> row-major float32 values (shapes from the config). */
  weights: Record<string, Float32Array>
  vocab: ExportVocab
  special: { bos: number; eos: number; pad: number; unk: number; endOfTurn?: number }
  chatTemplate?: string
  name: string
  dtype: GgufDtype
}

/** Our name -> llama.cpp's, per layer and for the whole model. */
function ggufName(hfName: string): string {
  const layer = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName)
  if (layer) {
    const part: Record<string, string> = {
      'input_layernorm.weight': 'attn_norm.weight',
      'self_attn.q_proj.weight': 'attn_q.weight',
      'self_attn.k_proj.weight': 'attn_k.weight',
      'self_attn.v_proj.weight': 'attn_v.weight',
      'self_attn.o_proj.weight': 'attn_output.weight',
      'post_attention_layernorm.weight': 'ffn_norm.weight',
      'mlp.gate_proj.weight': 'ffn_gate.weight',
      'mlp.up_proj.weight': 'ffn_up.weight',
      'mlp.down_proj.weight': 'ffn_down.weight',
    }
    const mapped = part[layer[2]]
    if (!mapped) throw new Error(`GGUF export: no llama.cpp name for ${hfName}`)
    return `blk.${layer[1]}.${mapped}`
  }
  const top: Record<string, string> = { 'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight' }
  if (!top[hfName]) throw new Error(`GGUF export: no llama.cpp name for ${hfName}`)
  return top[hfName]
}

/**
 * Hugging Face's rotary layout pairs dimension i with i + hd/2 ("rotate_half"); llama.cpp's llama
 * architecture pairs 2i with 2i+1. The same model in llama.cpp's layout has the rows of each
 * head's Q (and K) reordered: new row 2i+j = old row j*hd/2 + i. This is convert_hf_to_gguf.py's
 * LlamaModel.permute; K uses the number of key/value heads.
 */
export function permuteForInterleavedRope(values: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const hd = rows / heads
  const half = hd / 2
  const out = new Float32Array(values.length)
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * hd + j * half + i) * cols
        const to = (h * hd + 2 * i + j) * cols
        out.set(values.subarray(from, from + cols), to)
      }
    }
  }
  return out
}

/** Norms (1-D) stay f32, as llama.cpp's converter keeps them; matrices take the chosen format. */
function encodeTensor(values: Float32Array, shape: number[], dtype: GgufDtype): { type: GgmlTypeId; data: Buffer } {
  if (shape.length === 1 || dtype === 'f32') return { type: GgmlType.F32, data: toFloat32Bytes(values) }
  // Q8_0 blocks run along a row; a row length that is not a multiple of 32 falls back to f16.
  if (dtype === 'q8_0' && shape[shape.length - 1] % Q8_0_BLOCK === 0) return { type: GgmlType.Q8_0, data: toQ8_0Bytes(values) }
  return { type: GgmlType.F16, data: toFloat16Bytes(values) }
}

export function llamaGgufTensors(input: LlamaGgufInput, shapes: Record<string, number[]>): GgufTensor[] {
  const { config } = input
  const tensors: GgufTensor[] = []
  for (const [name, shape] of Object.entries(shapes)) {
    let values = input.weights[name]
    if (!values) throw new Error(`GGUF export: the model has no ${name}`)
    if (name.endsWith('.q_proj.weight')) values = permuteForInterleavedRope(values, shape[0], shape[1], config.n_heads)
    if (name.endsWith('.k_proj.weight')) values = permuteForInterleavedRope(values, shape[0], shape[1], config.n_kv_heads)
    tensors.push({ name: ggufName(name), shape, ...encodeTensor(values, shape, input.dtype) })
  }
  return tensors
}

export function llamaGgufMetadata(input: LlamaGgufInput): Array<[string, GgufValue]> {
  const { config, vocab, special } = input
  const u32 = (value: number): GgufValue => ({ type: 'u32', value })
  const meta: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: input.name }],
    ['general.alignment', u32(32)],
    ['general.file_type', u32(FILE_TYPE[input.dtype])],
    ['llama.vocab_size', u32(config.vocab_size)],
    ['llama.context_length', u32(config.max_seq_len)],
    ['llama.embedding_length', u32(config.dim)],
    ['llama.block_count', u32(config.n_layers)],
    ['llama.feed_forward_length', u32(config.hidden_dim)],
    ['llama.attention.head_count', u32(config.n_heads)],
    ['llama.attention.head_count_kv', u32(config.n_kv_heads)],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: config.norm_eps }],
    ['llama.rope.freq_base', { type: 'f32', value: config.rope_theta }],
    ['llama.rope.dimension_count', u32(headDim(config))],
    ['tokenizer.ggml.model', { type: 'string', value: vocab.style === 'llama' ? 'llama' : 'gpt2' }],
  ]
  if (vocab.preTokenizer) meta.push(['tokenizer.ggml.pre', { type: 'string', value: vocab.preTokenizer }])
  meta.push(['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }])
  meta.push(['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.kinds }])
  if (vocab.style === 'llama') {
    meta.push(['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }])
    meta.push(['tokenizer.ggml.add_space_prefix', { type: 'bool', value: vocab.addSpacePrefix ?? true }])
  } else {
    meta.push(['tokenizer.ggml.merges', { type: 'string[]', value: vocab.merges }])
  }
  meta.push(
    ['tokenizer.ggml.bos_token_id', u32(special.bos)],
    ['tokenizer.ggml.eos_token_id', u32(special.eos)],
    ['tokenizer.ggml.unknown_token_id', u32(special.unk)],
    ['tokenizer.ggml.padding_token_id', u32(special.pad)],
  )
  // Chat answers end with <|end|> (SFT learns it), so llama.cpp must stop there too.
  if (special.endOfTurn !== undefined) meta.push(['tokenizer.ggml.eot_token_id', u32(special.endOfTurn)])
  meta.push(['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }], ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }])
  if (input.chatTemplate) meta.push(['tokenizer.chat_template', { type: 'string', value: input.chatTemplate }])
  return meta
}

export function llamaGguf(input: LlamaGgufInput, shapes: Record<string, number[]>): GgufFile {
  return { metadata: llamaGgufMetadata(input), tensors: llamaGgufTensors(input, shapes) }
}
