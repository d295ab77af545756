// The Llama 2 tokenizer style: SentencePiece BPE over characters rather than GPT-2's bytes.
//   - text: every space becomes "▁" and one "▁" is prepended (SentencePiece's add_dummy_prefix),
//     so "▁" marks the start of a word and decoding drops the one prepended space;
//   - ids 0, 1, 2: <unk>, <s>, </s>; ids 3..258: the byte pieces <0x00>..<0xFF> (run.c assumes a
//     byte's token is byte + 3); ids 259..263: <pad> and the chat tokens; then the learned merges,
//     then the single characters;
//   - characters outside the alphabet (the rarest 0.05% of the training text, as SentencePiece's
//     character_coverage) are encoded as their UTF-8 bytes ("byte fallback");
//   - digits are split (each digit is its own token), as in Llama.
// The trained model is a SentencePiece ModelProto (pieces, scores, types), written as
// tokenizer.model, and converted to tokenizer.json exactly as transformers converts Llama's
// tokenizer.model (sentencepiece.ts), so both files encode the same.

import { byteTokenName, parseByteToken } from './bytes'
import { MODEL_TYPE, PIECE_TYPE, type SentencePiece, type SentencePieceModel } from './sentencepiece'
import { SPECIAL_TOKENS } from './specials'
import { countWords, trainBpe } from './train'

/** Share of character occurrences the alphabet covers (SentencePiece's default character_coverage). */
const CHARACTER_COVERAGE = 0.9995

/** The fixed pieces: unk, bos, eos, 256 bytes, then pad and the chat tokens (264 in all). */
export function llamaFixedPieces(): SentencePiece[] {
  const control = (piece: string): SentencePiece => ({ piece, score: 0, type: PIECE_TYPE.CONTROL })
  return [
    { piece: SPECIAL_TOKENS.unk, score: 0, type: PIECE_TYPE.UNKNOWN },
    control(SPECIAL_TOKENS.bos),
    control(SPECIAL_TOKENS.eos),
    ...Array.from({ length: 256 }, (_, b) => ({ piece: byteTokenName(b), score: 0, type: PIECE_TYPE.BYTE })),
    ...[SPECIAL_TOKENS.pad, SPECIAL_TOKENS.system, SPECIAL_TOKENS.user, SPECIAL_TOKENS.assistant, SPECIAL_TOKENS.end_of_turn].map(control),
  ]
}

/** A text as SentencePiece sees it: "▁" + text with spaces as "▁". */
export function toMetaspace(text: string): string {
  return '▁' + text.replaceAll(' ', '▁')
}

/** Training words: a "▁" starts a word, each digit is a word of its own. */
const WORD = /▁?[^▁\p{N}]+|▁|\p{N}/gu

export function trainLlamaStyle(texts: Iterable<string>, vocabSize: number, onProgress?: (merges: number) => void): SentencePieceModel {
  const fixed = llamaFixedPieces()
  const documents = [...texts].filter((t) => t.length > 0).map(toMetaspace)
  const alphabet = chooseAlphabet(documents, vocabSize - fixed.length)
  const inAlphabet = new Set(alphabet)
  // Characters outside the alphabet cut words (they will be bytes, which never merge).
  const wordCounts = countWords(documents, (doc) => (doc.match(WORD) ?? []).flatMap((word) => splitAtUnknown(word, inAlphabet)))
  if (wordCounts.size === 0) throw new Error('tokenizer training: the training text is empty')
  const trained = trainBpe(wordCounts, { maxNewTokens: vocabSize - fixed.length - alphabet.length, alphabet, onProgress })
  const taken = new Set(fixed.map((p) => p.piece))
  // A learned piece that spells a fixed one ("<s>" in the text) would be a duplicate: left out.
  const merged = trained.tokens.slice(alphabet.length).filter((t) => !taken.has(t) && parseByteToken(t) === undefined)
  const normal = [...merged, ...alphabet.filter((ch) => !taken.has(ch))]
  return {
    pieces: [...fixed, ...normal.map((piece, i) => ({ piece, score: -i, type: PIECE_TYPE.NORMAL }))],
    modelType: MODEL_TYPE.BPE,
    byteFallback: true,
    splitDigits: true,
    addDummyPrefix: true,
    removeExtraWhitespaces: false,
    normalizerName: 'identity',
    unkId: 0,
    bosId: 1,
    eosId: 2,
    padId: 3 + 256,
  }
}

/** The most frequent characters covering CHARACTER_COVERAGE of all occurrences, at most `budget`. */
function chooseAlphabet(documents: string[], budget: number): string[] {
  const counts = new Map<string, number>()
  let total = 0
  for (const doc of documents) {
    for (const ch of doc) {
      counts.set(ch, (counts.get(ch) ?? 0) + 1)
      total++
    }
  }
  const byFrequency = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const alphabet: string[] = []
  let covered = 0
  for (const [ch, count] of byFrequency) {
    if (alphabet.length >= budget || (alphabet.length > 0 && covered >= total * CHARACTER_COVERAGE)) break
    alphabet.push(ch)
    covered += count
  }
  return alphabet
}

function splitAtUnknown(word: string, alphabet: Set<string>): string[] {
  const parts: string[] = []
  let current = ''
  for (const ch of word) {
    if (alphabet.has(ch)) current += ch
    else if (current) {
      parts.push(current)
      current = ''
    }
  }
  if (current) parts.push(current)
  return parts
}

/**
 * The SentencePiece model of a Llama-style tokenizer.json (ours, or one converted from a
 * tokenizer.model): pieces in id order, special tokens as CONTROL, <0xNN> as BYTE, the rest NORMAL
 * with scores falling in id order (merges were ranked that way). Throws for other tokenizers.
 */
export function sentencePieceFromTokenizerJson(json: Record<string, unknown>): SentencePieceModel {
  if (!isLlamaStyleJson(json)) throw new Error('this tokenizer is not Llama (SentencePiece) style: only those have a tokenizer.model (train one with style=llama)')
  const model = json.model as { vocab: Record<string, number>; unk_token: string }
  const added = (json.added_tokens as Array<{ id: number; content: string; special?: boolean }>) ?? []
  const byId = new Map<number, string>()
  for (const [piece, id] of Object.entries(model.vocab)) byId.set(id, piece)
  for (const t of added) byId.set(t.id, t.content)
  const size = Math.max(...byId.keys()) + 1
  const specialIds = new Set(added.filter((t) => t.special !== false).map((t) => t.id))
  const pieces: SentencePiece[] = []
  let normalRank = 0
  for (let id = 0; id < size; id++) {
    const piece = byId.get(id)
    if (piece === undefined) throw new Error(`tokenizer.json: id ${id} has no token (SentencePiece needs ids 0..${size - 1} without gaps)`)
    if (piece === model.unk_token) pieces.push({ piece, score: 0, type: PIECE_TYPE.UNKNOWN })
    else if (specialIds.has(id)) pieces.push({ piece, score: 0, type: PIECE_TYPE.CONTROL })
    else if (parseByteToken(piece) !== undefined) pieces.push({ piece, score: 0, type: PIECE_TYPE.BYTE })
    else pieces.push({ piece, score: -normalRank++, type: PIECE_TYPE.NORMAL })
  }
  const idOf = (content: string) => pieces.findIndex((p) => p.piece === content)
  return {
    pieces,
    modelType: MODEL_TYPE.BPE,
    byteFallback: true,
    splitDigits: true,
    addDummyPrefix: true,
    removeExtraWhitespaces: false,
    normalizerName: 'identity',
    unkId: Math.max(0, idOf(model.unk_token)),
    bosId: idOf(SPECIAL_TOKENS.bos),
    eosId: idOf(SPECIAL_TOKENS.eos),
    padId: idOf(SPECIAL_TOKENS.pad),
  }
}

/** A BPE tokenizer.json in the Llama 2 (SentencePiece) layout: byte fallback, "▁" prepended by the normalizer, no pre-tokenizer. */
export function isLlamaStyleJson(json: Record<string, unknown>): boolean {
  const model = json.model as Record<string, unknown> | undefined
  const normalizer = json.normalizer as { type?: string; normalizers?: Array<{ type?: string; prepend?: string }> } | null
  return (
    model?.type === 'BPE' &&
    model.byte_fallback === true &&
    typeof model.unk_token === 'string' &&
    (json.pre_tokenizer === null || json.pre_tokenizer === undefined) &&
    normalizer?.type === 'Sequence' &&
    normalizer.normalizers?.[0]?.type === 'Prepend' &&
    normalizer.normalizers[0].prepend === '▁'
  )
}
