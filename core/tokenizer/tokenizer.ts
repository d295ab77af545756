// The workbench tokenizer: BPE with the Llama 2 rules, stored as Hugging Face tokenizer.json (and,
// for the Llama style, also as a SentencePiece tokenizer.model). Two training styles: GPT-2-style
// byte-level, and Llama 2's SentencePiece BPE (llamaStyle.ts). The same class runs tokenizers we train and BPE tokenizer.json files made by
// Hugging Face tools (SentencePiece-style Llama 2 / TinyLlama files and GPT-2 ByteLevel files):
// the file's normalizer, pre-tokenizer, BPE model and decoder are interpreted as HF does.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { writingFile } from '../util/files'
import { BpeModel } from './bpe'
import { compileDecoder, type Decode } from './decoders'
import { buildTokenizerJson, WORKBENCH_PATTERN } from './format'
import { compileNormalizer, type Normalize } from './normalizers'
import { compilePreTokenizer, splitPiece, type PreTokenize } from './preTokenizers'
import { compileOniguruma, escapeRegExp } from './regex'
import { ROLE_CANDIDATES, SPECIAL_ROLES, SPECIAL_TOKENS, type SpecialIds } from './specials'
import { countWords, trainBpe } from './train'
import { isLlamaStyleJson, sentencePieceFromTokenizerJson, trainLlamaStyle } from './llamaStyle'
import { readSentencePieceModel, sentencePieceToTokenizerJson, writeSentencePieceModel } from './sentencepiece'

export interface EncodeOptions {
  /** Put BOS first. */
  bos?: boolean
  /** Put EOS last. */
  eos?: boolean
  /**
   * What special-token text in `text` (e.g. "<|user|>", "</s>") becomes:
   *   'plain' (default): ordinary characters, so text a user typed cannot forge a chat turn or end
   *     a sequence; role and end tokens are added by the chat template as ids, never parsed;
   *   'parse': the special token itself, as Hugging Face tokenizers do by default
   *     (`tokenizer.encode("<s>hi")` there gives the BOS id). Use it to match their ids exactly.
   * Added tokens that are not special are always matched, in both modes (as in Hugging Face).
   */
  specialTokens?: SpecialTokenMode
}

export type SpecialTokenMode = 'plain' | 'parse'

export interface DecodeOptions {
  /** Leave out special tokens (BOS, EOS, PAD, chat roles ...). */
  skipSpecial?: boolean
}

/**
 * 'bytelevel' (default): GPT-2-style byte-level BPE (every byte is a token, spaces are part of the
 * following word as "Ġ"). 'llama': Llama 2's SentencePiece BPE ("▁" word marker, byte fallback to
 * <0x00>..<0xFF> at ids 3..258, digits split), also saved as a SentencePiece tokenizer.model.
 */
export type TokenizerStyle = 'bytelevel' | 'llama'
export const TOKENIZER_STYLES: readonly TokenizerStyle[] = ['bytelevel', 'llama']

export interface TrainOptions {
  vocabSize: number
  /** Default 'bytelevel'. */
  style?: TokenizerStyle
  /** Called every 100 merges and at the end with the number of merges so far. */
  onProgress?: (merges: number) => void
}

interface AddedToken {
  id: number
  content: string
  special: boolean
}

/** 8 special tokens + 256 byte tokens. */
export const MIN_VOCAB_SIZE = SPECIAL_ROLES.length + 256

export class Tokenizer {
  readonly vocabSize: number
  readonly special: SpecialIds
  /** Special tokens this load appended because the file had no equivalent (foreign files only): an imported model's embeddings must grow to `vocabSize`. */
  readonly addedOnLoad: string[]

  private readonly json: Record<string, unknown>
  private readonly model: BpeModel
  private readonly normalize: Normalize
  private readonly preTokenize: PreTokenize
  private readonly decodeTokens: Decode
  private readonly addedByContent = new Map<string, AddedToken>()
  private readonly addedById = new Map<number, AddedToken>()
  /** Matches every added token / only the non-special ones (those are always matched, as in HF). */
  private readonly allAddedRegex: RegExp | null
  private readonly plainAddedRegex: RegExp | null
  private cachedHash: string | undefined

  private constructor(json: Record<string, unknown>) {
    const model = readBpeModel(json.model)
    const added = readAddedTokens(json.added_tokens)
    const nextId = () => Math.max(maxId(model.idToToken), ...added.map((t) => t.id)) + 1
    const { special, appended } = resolveSpecialRoles(added, model, nextId)

    this.json = { ...json, added_tokens: [...asList(json.added_tokens), ...appended.map(addedTokenJson)] }
    this.model = model
    this.normalize = compileNormalizer(json.normalizer)
    this.preTokenize = compilePreTokenizer(json.pre_tokenizer)
    this.decodeTokens = compileDecoder(json.decoder)
    for (const token of [...added, ...appended]) {
      this.addedByContent.set(token.content, token)
      this.addedById.set(token.id, token)
    }
    this.allAddedRegex = alternation([...this.addedByContent.keys()])
    this.plainAddedRegex = alternation([...this.addedByContent.values()].filter((t) => !t.special).map((t) => t.content))
    this.special = special
    this.addedOnLoad = appended.map((t) => t.content)
    this.vocabSize = nextId() + appended.length
  }

  /** Trains a BPE tokenizer on `texts` to `vocabSize` tokens (fewer when the text runs out of pairs). */
  static train(texts: Iterable<string> | string[], opts: TrainOptions): Tokenizer {
    const { vocabSize } = opts
    if (!Number.isInteger(vocabSize) || vocabSize < MIN_VOCAB_SIZE || vocabSize > 1_000_000) {
      throw new Error(`tokenizer vocab_size must be an integer from ${MIN_VOCAB_SIZE} (8 special tokens + 256 bytes) to 1000000, got ${vocabSize}`)
    }
    const style = opts.style ?? 'bytelevel'
    if (!TOKENIZER_STYLES.includes(style)) throw new Error(`tokenizer style must be one of ${TOKENIZER_STYLES.join(', ')}, got ${JSON.stringify(style)}`)
    if (style === 'llama') return new Tokenizer(sentencePieceToTokenizerJson(trainLlamaStyle(texts, vocabSize, opts.onProgress)))
    const splitter = compileOniguruma(WORKBENCH_PATTERN, 'WORKBENCH_PATTERN')
    const wordCounts = countWords(texts, (text) => splitPiece(text, splitter, 'Isolated', false))
    if (wordCounts.size === 0) throw new Error('tokenizer training: the training text is empty')
    const trained = trainBpe(wordCounts, { maxNewTokens: vocabSize - MIN_VOCAB_SIZE, onProgress: opts.onProgress })
    return new Tokenizer(buildTokenizerJson(trained.tokens, trained.merges))
  }

  /** Loads a tokenizer.json file, a SentencePiece tokenizer.model, or a folder holding either (tokenizer.json first). */
  static load(filePath: string): Tokenizer {
    let file = filePath
    if (fs.existsSync(filePath) && fs.statSync(filePath).isDirectory()) {
      file = path.join(filePath, 'tokenizer.json')
      if (!fs.existsSync(file) && fs.existsSync(path.join(filePath, 'tokenizer.model'))) file = path.join(filePath, 'tokenizer.model')
    }
    if (!fs.existsSync(file)) throw new Error(`tokenizer: ${file} does not exist`)
    if (file.endsWith('.model')) return Tokenizer.loadSentencePiece(file)
    let json: unknown
    try {
      json = JSON.parse(fs.readFileSync(file, 'utf8'))
    } catch (err) {
      throw new Error(`tokenizer: ${file} is not valid JSON (${(err as Error).message})`)
    }
    try {
      return Tokenizer.fromJSON(json)
    } catch (err) {
      throw new Error(`tokenizer: ${file}: ${(err as Error).message}`)
    }
  }

  /** Reads a SentencePiece BPE tokenizer.model (Llama 2's) and converts it as transformers' LlamaConverter does. */
  static loadSentencePiece(file: string): Tokenizer {
    try {
      const model = readSentencePieceModel(new Uint8Array(fs.readFileSync(file)), file)
      return new Tokenizer(sentencePieceToTokenizerJson(model, file))
    } catch (err) {
      throw new Error(`tokenizer: ${(err as Error).message}`)
    }
  }

  /** Builds a tokenizer from a parsed Hugging Face tokenizer.json object. */
  static fromJSON(json: unknown): Tokenizer {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error('tokenizer.json must be a JSON object')
    // A private copy: later changes to the caller's object must not change this tokenizer's hash.
    return new Tokenizer(structuredClone(json) as Record<string, unknown>)
  }

  /** Writes Hugging Face tokenizer.json (`filePath` may be a folder). */
  save(filePath: string): void {
    const isFolder = filePath.endsWith('/') || (fs.existsSync(filePath) && fs.statSync(filePath).isDirectory())
    const file = isFolder ? path.join(filePath, 'tokenizer.json') : filePath
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const text = JSON.stringify(this.toJSON(), null, 2) + '\n'
    writingFile(file, () => fs.writeFileSync(file, text))
  }

  /** 'llama' for a SentencePiece-style tokenizer (ours or Llama 2's), else 'bytelevel'. */
  get style(): TokenizerStyle {
    return isLlamaStyleJson(this.json) ? 'llama' : 'bytelevel'
  }

  /** The SentencePiece tokenizer.model bytes of a Llama-style tokenizer (throws for byte-level ones). */
  toSentencePiece(): Uint8Array {
    return writeSentencePieceModel(sentencePieceFromTokenizerJson(this.json))
  }

  /** Writes the SentencePiece tokenizer.model of a Llama-style tokenizer (`filePath` may be a folder). */
  saveSentencePiece(filePath: string): void {
    const isFolder = filePath.endsWith('/') || (fs.existsSync(filePath) && fs.statSync(filePath).isDirectory())
    const file = isFolder ? path.join(filePath, 'tokenizer.model') : filePath
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, this.toSentencePiece())
  }

  toJSON(): object {
    return structuredClone(this.json)
  }

  /** sha256 of the canonical (key-sorted) JSON: equal for tokenizers that encode identically. */
  hash(): string {
    this.cachedHash ??= createHash('sha256').update(canonicalJson(this.json)).digest('hex')
    return this.cachedHash
  }

  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.tokenToId.get(token)
  }

  idToToken(id: number): string | undefined {
    return this.addedById.get(id)?.content ?? this.model.idToToken.get(id)
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new Error(`encode: expected a string, got ${typeof text}`)
    const ids: number[] = []
    if (opts.bos) ids.push(this.special.bos)
    const mode = opts.specialTokens ?? 'plain'
    if (mode !== 'plain' && mode !== 'parse') throw new Error(`encode: specialTokens must be 'plain' or 'parse', got ${JSON.stringify(mode)}`)
    const regex = mode === 'parse' ? this.allAddedRegex : this.plainAddedRegex
    let start = 0
    if (regex) {
      for (const m of text.matchAll(regex)) {
        const at = m.index as number
        if (at > start) this.encodePlain(text.slice(start, at), start === 0, ids)
        ids.push((this.addedByContent.get(m[0]) as AddedToken).id)
        start = at + m[0].length
      }
    }
    if (start < text.length) this.encodePlain(text.slice(start), start === 0, ids)
    if (opts.eos) ids.push(this.special.eos)
    return ids
  }

  /** Text with no added tokens in it: normalize, pre-tokenize, BPE each word. */
  private encodePlain(text: string, atStart: boolean, out: number[]): void {
    for (const word of this.preTokenize([this.normalize(text)], atStart)) {
      for (const id of this.model.encodeWord(word)) out.push(id)
    }
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    const tokens: string[] = []
    for (const id of ids) {
      const added = this.addedById.get(id)
      if (added?.special && opts.skipSpecial) continue
      const token = added?.content ?? this.model.idToToken.get(id)
      if (token === undefined) throw new Error(`decode: id ${id} is not in the vocabulary (size ${this.vocabSize})`)
      tokens.push(token)
    }
    return this.decodeTokens(tokens).join('')
  }
}

function readBpeModel(json: unknown): BpeModel {
  if (json === null || typeof json !== 'object') throw new Error('model: missing (expected a BPE model object)')
  const m = json as Record<string, unknown>
  // Very old files have no "type"; a vocab plus merges is BPE.
  const type = m.type ?? (m.merges !== undefined ? 'BPE' : undefined)
  if (type !== 'BPE') {
    throw new Error(`model.type ${JSON.stringify(m.type)} is not supported: only BPE tokenizers can be loaded (WordPiece, Unigram and WordLevel cannot)`)
  }
  for (const field of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (m[field] !== null && m[field] !== undefined && m[field] !== '') throw new Error(`model.${field} ${JSON.stringify(m[field])} is not supported`)
  }
  if (m.vocab === null || typeof m.vocab !== 'object' || Array.isArray(m.vocab)) throw new Error('model.vocab: expected an object { token: id }')
  const vocab = new Map<string, number>(Object.entries(m.vocab as Record<string, number>))
  if (!Array.isArray(m.merges)) throw new Error('model.merges: expected a list')
  const merges = m.merges.map((merge, i) => readMerge(merge, i))
  return new BpeModel(vocab, merges, {
    unkToken: typeof m.unk_token === 'string' ? m.unk_token : null,
    byteFallback: m.byte_fallback === true,
    fuseUnk: m.fuse_unk === true,
    ignoreMerges: m.ignore_merges === true,
  })
}

/** A merge is "left right" (classic) or ["left", "right"] (tokenizers >= 0.20). */
function readMerge(merge: unknown, i: number): [string, string] {
  if (typeof merge === 'string') {
    const parts = merge.split(' ')
    if (parts.length === 2) return [parts[0], parts[1]]
  } else if (Array.isArray(merge) && merge.length === 2 && merge.every((p) => typeof p === 'string')) {
    return [merge[0], merge[1]]
  }
  throw new Error(`model.merges[${i}]: expected "left right" or ["left", "right"], got ${JSON.stringify(merge)}`)
}

function readAddedTokens(json: unknown): AddedToken[] {
  return asList(json).map((t, i) => {
    const token = t as Record<string, unknown>
    if (!token || !Number.isInteger(token.id) || typeof token.content !== 'string' || token.content === '') {
      throw new Error(`added_tokens[${i}]: expected { id: integer, content: non-empty string }, got ${JSON.stringify(t)}`)
    }
    return { id: token.id as number, content: token.content, special: token.special === true }
  })
}

function asList(json: unknown): unknown[] {
  if (json === undefined || json === null) return []
  if (!Array.isArray(json)) throw new Error('added_tokens: expected a list')
  return json
}

/** Finds an id for every special role; roles with no candidate get a new special token. */
function resolveSpecialRoles(added: AddedToken[], model: BpeModel, nextId: () => number) {
  const byContent = new Map(added.map((t) => [t.content, t.id]))
  const idOf = (content: string) => byContent.get(content) ?? model.tokenToId.get(content)
  const appended: AddedToken[] = []
  const special = {} as SpecialIds
  const unkCandidates = model.options.unkToken ? [model.options.unkToken, ...ROLE_CANDIDATES.unk] : ROLE_CANDIDATES.unk
  for (const role of SPECIAL_ROLES) {
    const candidates = role === 'unk' ? unkCandidates : ROLE_CANDIDATES[role]
    const found = candidates.map(idOf).find((id) => id !== undefined)
    if (found !== undefined) {
      special[role] = found
    } else if (role === 'pad') {
      special.pad = special.unk ?? special.eos
    } else {
      const token = { id: nextId() + appended.length, content: SPECIAL_TOKENS[role], special: true }
      appended.push(token)
      special[role] = token.id
    }
  }
  return { special, appended }
}

function addedTokenJson(token: AddedToken) {
  return { id: token.id, content: token.content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: token.special }
}

function maxId(ids: ReadonlyMap<number, string>): number {
  let max = -1
  for (const id of ids.keys()) if (id > max) max = id
  return max
}

/** A regex matching any of `contents`, longest first (so "<|end|>" wins over a shorter prefix). */
function alternation(contents: string[]): RegExp | null {
  if (contents.length === 0) return null
  const sorted = [...contents].sort((a, b) => b.length - a.length)
  return new RegExp(sorted.map(escapeRegExp).join('|'), 'gu')
}

/** JSON with object keys sorted at every level. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']'
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => JSON.stringify(k) + ':' + canonicalJson((value as Record<string, unknown>)[k]))
    return '{' + entries.join(',') + '}'
  }
  return JSON.stringify(value)
}
