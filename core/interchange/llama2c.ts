// llama2.c's files, for people who learn from run.c (karpathy/llama2.c, export.py):
//
//   model .bin, version 1: a 256-byte header (u32 magic 0x616b3432 "ak42", i32 version 1, seven i32
//     dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len, u8 shared classifier,
//     zeros), then float32 tensors in this order: every layer's attention norm, every layer's ffn
//     norm, the final norm, the token embeddings, every layer's wq, wk, wv, wo, w1 (gate), w2 (down),
//     w3 (up), and the classifier unless it is shared with the embeddings.
//   tokenizer.bin: i32 max_token_length, then per token: f32 score, i32 byte length, the bytes.
//
// llama2.c's model is Meta's original layout, whose rotary embedding pairs neighbouring dimensions,
// so Q and K get the same row permutation as for GGUF. Its tokenizer code knows SentencePiece only:
// byte tokens must sit at id byte + 3 (after <unk>, <s>, </s>) and "▁" is a space; a byte-level
// BPE cannot be described to it, so the export refuses one.
import { type LlamaConfig } from '../model/config'
import { permuteForInterleavedRope } from './ggufLlama'
import { toFloat32Bytes } from './quantize'
import { byteToken, type ExportVocab } from './vocab'

export const LLAMA2C_MAGIC = 0x616b3432
export const LLAMA2C_VERSION = 1
export const LLAMA2C_HEADER_BYTES = 256

/** The tensor order of a version 1 file, as Hugging Face names. */
export function llama2cTensorOrder(config: LlamaConfig): string[] {
  const perLayer = (part: string) => Array.from({ length: config.n_layers }, (_, i) => `model.layers.${i}.${part}`)
  return [
    ...perLayer('input_layernorm.weight'),
    ...perLayer('post_attention_layernorm.weight'),
    'model.norm.weight',
    'model.embed_tokens.weight',
    ...perLayer('self_attn.q_proj.weight'),
    ...perLayer('self_attn.k_proj.weight'),
    ...perLayer('self_attn.v_proj.weight'),
    ...perLayer('self_attn.o_proj.weight'),
    ...perLayer('mlp.gate_proj.weight'),
    ...perLayer('mlp.down_proj.weight'),
    ...perLayer('mlp.up_proj.weight'),
    ...(config.tie_embeddings ? [] : ['lm_head.weight']),
  ]
}

/**
 * Refuses a tokenizer run.c would misread, saying why. run.c looks up byte b as token id b + 3 and
 * treats "▁" as the space, so only a Llama-style tokenizer with <unk>, <s>, </s> at 0..2 and
 * <0x00>..<0xFF> at 3..258 works.
 */
export function checkLlama2cVocab(vocab: ExportVocab): void {
  if (vocab.style !== 'llama') {
    throw new Error(
      "llama2.c export needs a Llama-style (SentencePiece) tokenizer: run.c hard-codes byte tokens at id byte+3 and '▁' as the space, " +
        'and this model has a byte-level BPE tokenizer (GPT-2 style). Train one with `workbench tokenizer train --set style=llama`, or export to GGUF instead.',
    )
  }
  const expected = ['<unk>', '<s>', '</s>']
  expected.forEach((t, id) => {
    if (vocab.tokens[id] !== t) throw new Error(`llama2.c export: run.c expects ${t} at id ${id}, the tokenizer has ${JSON.stringify(vocab.tokens[id])}`)
  })
  for (let b = 0; b < 256; b++) {
    if (vocab.tokens[b + 3] !== byteToken(b)) throw new Error(`llama2.c export: run.c expects byte token ${byteToken(b)} at id ${b + 3}, the tokenizer has ${JSON.stringify(vocab.tokens[b + 3])}`)
  }
}

export function encodeLlama2cModel(config: LlamaConfig, weights: Record<string, Float32Array>): Buffer {
  const header = Buffer.alloc(LLAMA2C_HEADER_BYTES)
  header.writeUInt32LE(LLAMA2C_MAGIC, 0)
  header.writeInt32LE(LLAMA2C_VERSION, 4)
  const fields = [config.dim, config.hidden_dim, config.n_layers, config.n_heads, config.n_kv_heads, config.vocab_size, config.max_seq_len]
  fields.forEach((v, i) => header.writeInt32LE(v, 8 + 4 * i))
  header.writeUInt8(config.tie_embeddings ? 1 : 0, 8 + 4 * fields.length)
  const kvDim = (config.dim / config.n_heads) * config.n_kv_heads
  const parts: Buffer[] = [header]
  for (const name of llama2cTensorOrder(config)) {
    let values = weights[name]
    if (!values) throw new Error(`llama2.c export: the model has no ${name}`)
    if (name.endsWith('.q_proj.weight')) values = permuteForInterleavedRope(values, config.dim, config.dim, config.n_heads)
    if (name.endsWith('.k_proj.weight')) values = permuteForInterleavedRope(values, kvDim, config.dim, config.n_kv_heads)
    parts.push(toFloat32Bytes(values))
  }
  return Buffer.concat(parts)
}

/** tokenizer.bin as llama2.c's tokenizer.py writes it: "▁" becomes a space, BOS/EOS get newlines around them. */
export function encodeLlama2cTokenizer(vocab: ExportVocab): Buffer {
  const pieces = vocab.tokens.map((token, id) => {
    if (id === 1) return Buffer.from('\n<s>\n', 'utf8')
    if (id === 2) return Buffer.from('\n</s>\n', 'utf8')
    return Buffer.from(token.replaceAll('▁', ' '), 'utf8')
  })
  const maxLength = Math.max(...pieces.map((p) => p.length))
  const parts: Buffer[] = [Buffer.alloc(4)]
  parts[0].writeInt32LE(maxLength)
  pieces.forEach((piece, id) => {
    const entry = Buffer.alloc(8)
    entry.writeFloatLE(vocab.scores[id], 0)
    entry.writeInt32LE(piece.length, 4)
    parts.push(entry, piece)
  })
  return Buffer.concat(parts)
}
