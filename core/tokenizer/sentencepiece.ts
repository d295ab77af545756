// SentencePiece `tokenizer.model` files (the Llama 2 tokenizer format): the protobuf ModelProto
// read and written by hand, and its conversion to a Hugging Face tokenizer.json the way
// transformers' LlamaConverter does it (convert_slow_tokenizer.py).
//
// ModelProto fields used (sentencepiece_model.proto):
//   1 pieces (repeated SentencePiece: 1 piece string, 2 score float, 3 type enum)
//   2 trainer_spec (3 model_type: 1 UNIGRAM, 2 BPE; 4 vocab_size; 25 split_digits; 35 byte_fallback;
//     40..43 unk/bos/eos/pad ids; 45..48 unk/bos/eos/pad pieces)
//   3 normalizer_spec (1 name; 3 add_dummy_prefix; 4 remove_extra_whitespaces; 5 escape_whitespaces)
// Unknown fields are skipped when reading.

import { parseByteToken } from './bytes'

export const PIECE_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const
export const MODEL_TYPE = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const

export interface SentencePiece {
  piece: string
  score: number
  type: number
}

export interface SentencePieceModel {
  pieces: SentencePiece[]
  modelType: number
  byteFallback: boolean
  splitDigits: boolean
  addDummyPrefix: boolean
  removeExtraWhitespaces: boolean
  /** Normalization rule name: "identity" means none (Llama 2), "nmt_nfkc" etc. need a charsmap we do not apply. */
  normalizerName: string
  unkId: number
  bosId: number
  eosId: number
  padId: number
}

// ---------------------------------------------------------------------------------------------
// Protobuf wire format: varints, 32-bit floats and length-delimited fields are all we need.

const VARINT = 0
const FIXED64 = 1
const LENGTH = 2
const FIXED32 = 5

class ProtoWriter {
  private readonly bytes: number[] = []

  varint(value: number): this {
    // int32 fields with negative values (pad_id -1) are written as 10-byte two's complement.
    let v = BigInt.asUintN(64, BigInt(value))
    do {
      let byte = Number(v & 0x7fn)
      v >>= 7n
      if (v !== 0n) byte |= 0x80
      this.bytes.push(byte)
    } while (v !== 0n)
    return this
  }

  tag(field: number, wireType: number): this {
    return this.varint((field << 3) | wireType)
  }

  int(field: number, value: number): this {
    return this.tag(field, VARINT).varint(value)
  }

  bool(field: number, value: boolean): this {
    return this.int(field, value ? 1 : 0)
  }

  float(field: number, value: number): this {
    this.tag(field, FIXED32)
    const buf = new DataView(new ArrayBuffer(4))
    buf.setFloat32(0, value, true)
    for (let i = 0; i < 4; i++) this.bytes.push(buf.getUint8(i))
    return this
  }

  bytesField(field: number, data: Uint8Array): this {
    this.tag(field, LENGTH).varint(data.length)
    for (const b of data) this.bytes.push(b)
    return this
  }

  string(field: number, value: string): this {
    return this.bytesField(field, new TextEncoder().encode(value))
  }

  message(field: number, inner: ProtoWriter): this {
    return this.bytesField(field, inner.finish())
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes)
  }
}

interface ProtoField {
  field: number
  wireType: number
  /** VARINT: the value (as a signed 64-bit number cut to a JS number); FIXED32: the float. */
  value: number
  /** LENGTH: the bytes. */
  data?: Uint8Array
}

function readFields(bytes: Uint8Array, where: string): ProtoField[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fields: ProtoField[] = []
  let pos = 0
  const varint = (): bigint => {
    let result = 0n
    for (let shift = 0n; ; shift += 7n) {
      if (pos >= bytes.length) throw new Error(`${where}: truncated varint at byte ${pos}`)
      const b = bytes[pos++]
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
      if (shift > 63n) throw new Error(`${where}: varint too long at byte ${pos}`)
    }
  }
  while (pos < bytes.length) {
    const key = Number(varint())
    const field = key >>> 3
    const wireType = key & 7
    if (wireType === VARINT) fields.push({ field, wireType, value: Number(BigInt.asIntN(64, varint())) })
    else if (wireType === FIXED32) {
      if (pos + 4 > bytes.length) throw new Error(`${where}: truncated field ${field}`)
      fields.push({ field, wireType, value: view.getFloat32(pos, true) })
      pos += 4
    } else if (wireType === FIXED64) pos += 8
    else if (wireType === LENGTH) {
      const length = Number(varint())
      if (pos + length > bytes.length) throw new Error(`${where}: field ${field} runs past the end (${length} bytes at ${pos})`)
      fields.push({ field, wireType, value: length, data: bytes.subarray(pos, pos + length) })
      pos += length
    } else throw new Error(`${where}: unsupported protobuf wire type ${wireType} (field ${field}) at byte ${pos}: not a SentencePiece model?`)
  }
  return fields
}

// ---------------------------------------------------------------------------------------------
// ModelProto

export function writeSentencePieceModel(model: SentencePieceModel): Uint8Array {
  const out = new ProtoWriter()
  for (const p of model.pieces) {
    out.message(1, new ProtoWriter().string(1, p.piece).float(2, p.score).int(3, p.type))
  }
  const pieceOf = (id: number, fallback: string) => (id >= 0 && id < model.pieces.length ? model.pieces[id].piece : fallback)
  const trainer = new ProtoWriter()
    .int(3, model.modelType)
    .int(4, model.pieces.length)
    .bool(25, model.splitDigits)
    .bool(35, model.byteFallback)
    .int(40, model.unkId)
    .int(41, model.bosId)
    .int(42, model.eosId)
    .int(43, model.padId)
    .string(45, pieceOf(model.unkId, '<unk>'))
    .string(46, pieceOf(model.bosId, '<s>'))
    .string(47, pieceOf(model.eosId, '</s>'))
    .string(48, pieceOf(model.padId, '<pad>'))
  out.message(2, trainer)
  const normalizer = new ProtoWriter()
    .string(1, model.normalizerName)
    .bool(3, model.addDummyPrefix)
    .bool(4, model.removeExtraWhitespaces)
    .bool(5, true) // escape_whitespaces: spaces become "▁"
  out.message(3, normalizer)
  return out.finish()
}

export function readSentencePieceModel(bytes: Uint8Array, where = 'tokenizer.model'): SentencePieceModel {
  // Defaults are the proto's own (sentencepiece_model.proto).
  const model: SentencePieceModel = {
    pieces: [],
    modelType: MODEL_TYPE.UNIGRAM,
    byteFallback: false,
    splitDigits: false,
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    normalizerName: 'nmt_nfkc',
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: -1,
  }
  const decoder = new TextDecoder('utf-8', { fatal: true })
  for (const f of readFields(bytes, where)) {
    if (f.field === 1 && f.data) {
      const piece: SentencePiece = { piece: '', score: 0, type: PIECE_TYPE.NORMAL }
      for (const g of readFields(f.data, `${where}: pieces[${model.pieces.length}]`)) {
        if (g.field === 1 && g.data) piece.piece = decoder.decode(g.data)
        else if (g.field === 2 && g.wireType === FIXED32) piece.score = g.value
        else if (g.field === 3 && g.wireType === VARINT) piece.type = g.value
      }
      model.pieces.push(piece)
    } else if (f.field === 2 && f.data) {
      for (const g of readFields(f.data, `${where}: trainer_spec`)) {
        if (g.wireType !== VARINT) continue
        if (g.field === 3) model.modelType = g.value
        else if (g.field === 25) model.splitDigits = g.value !== 0
        else if (g.field === 35) model.byteFallback = g.value !== 0
        else if (g.field === 40) model.unkId = g.value
        else if (g.field === 41) model.bosId = g.value
        else if (g.field === 42) model.eosId = g.value
        else if (g.field === 43) model.padId = g.value
      }
    } else if (f.field === 3 && f.data) {
      for (const g of readFields(f.data, `${where}: normalizer_spec`)) {
        if (g.field === 1 && g.data) model.normalizerName = decoder.decode(g.data)
        else if (g.field === 3 && g.wireType === VARINT) model.addDummyPrefix = g.value !== 0
        else if (g.field === 4 && g.wireType === VARINT) model.removeExtraWhitespaces = g.value !== 0
      }
    }
  }
  if (model.pieces.length === 0) throw new Error(`${where}: no pieces (not a SentencePiece model file?)`)
  return model
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json, as transformers' LlamaConverter writes it (legacy mode: a "▁" is prepended to
// every stretch of text, exactly as SentencePiece's add_dummy_prefix does; no pre-tokenizer).

export function sentencePieceToTokenizerJson(model: SentencePieceModel, where = 'tokenizer.model'): Record<string, unknown> {
  const problems: string[] = []
  if (model.modelType !== MODEL_TYPE.BPE) problems.push(`model_type ${model.modelType} is not BPE (2): only SentencePiece BPE models (Llama 2 style) can be converted; Unigram models cannot`)
  if (model.normalizerName !== 'identity') problems.push(`normalizer "${model.normalizerName}" is not supported (only "identity", as Llama 2 uses)`)
  if (model.removeExtraWhitespaces) problems.push('remove_extra_whitespaces is on (not supported: Llama 2 keeps every space)')
  if (problems.length > 0) throw new Error(`${where}: cannot convert this SentencePiece model:\n  - ${problems.join('\n  - ')}`)

  const vocab: Record<string, number> = Object.create(null)
  const scores = new Map<string, number>()
  model.pieces.forEach((p, id) => {
    vocab[p.piece] = id
    scores.set(p.piece, p.score)
  })
  const unk = model.pieces[model.unkId]?.piece ?? '<unk>'
  const special = model.pieces
    .map((p, id) => ({ p, id }))
    .filter(({ p }) => p.type === PIECE_TYPE.CONTROL || p.type === PIECE_TYPE.UNKNOWN || p.type === PIECE_TYPE.USER_DEFINED)
  const bos = model.bosId >= 0 ? model.pieces[model.bosId]?.piece : undefined
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: special.map(({ p, id }) => ({
      id,
      content: p.piece,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: p.type === PIECE_TYPE.USER_DEFINED,
      special: p.type !== PIECE_TYPE.USER_DEFINED,
    })),
    normalizer: {
      type: 'Sequence',
      normalizers: [
        ...(model.addDummyPrefix ? [{ type: 'Prepend', prepend: '▁' }] : []),
        { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      ],
    },
    pre_tokenizer: null,
    post_processor: bos === undefined ? null : {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: bos, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: bos, type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { [bos]: { id: bos, ids: [model.bosId], tokens: [bos] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(model.addDummyPrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: unk,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: model.byteFallback,
      ignore_merges: false,
      vocab,
      merges: mergesFromScores(model.pieces).map(([a, b]) => `${a} ${b}`),
    },
  }
}

/**
 * BPE merges recovered from piece scores, as transformers' `generate_merges` does: every split of
 * a piece into two pieces of the vocabulary is a merge, ranked by the merged piece's score (higher
 * first; then longer left part, longer right part; then vocabulary order, as Python's stable sort
 * leaves it). Byte and control pieces take part like any other, as there.
 */
export function mergesFromScores(pieces: SentencePiece[]): Array<[string, string]> {
  const idOf = new Map<string, number>()
  pieces.forEach((p, id) => {
    if (!idOf.has(p.piece)) idOf.set(p.piece, id)
  })
  type Candidate = { left: string; right: string; score: number; order: number }
  const all: Candidate[] = []
  for (const p of pieces) {
    const chars = [...p.piece]
    const local: Candidate[] = []
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('')
      const right = chars.slice(i).join('')
      if (idOf.has(left) && idOf.has(right)) local.push({ left, right, score: p.score, order: 0 })
    }
    local.sort((a, b) => (idOf.get(a.left) as number) - (idOf.get(b.left) as number) || (idOf.get(a.right) as number) - (idOf.get(b.right) as number))
    for (const c of local) all.push({ ...c, order: all.length })
  }
  all.sort((a, b) => b.score - a.score || [...b.left].length - [...a.left].length || [...b.right].length - [...a.right].length || a.order - b.order)
  return all.map((c) => [c.left, c.right])
}

/** Whether a piece is one of SentencePiece's byte pieces "<0x00>".."<0xFF>". */
export function isBytePiece(piece: string): boolean {
  return parseByteToken(piece) !== undefined
}
