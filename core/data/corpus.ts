// Pretraining data: text files, folders of them, and JSONL with a `text` field, tokenised once
// (cached by tokenizer hash + file paths, sizes and sha256) and packed into fixed windows.
//
// Token stream: every document is `<s> document </s>`, documents back to back. Windows hold
// seq_len + 1 tokens and start every seq_len tokens, so a window gives inputs = window[0..T-1]
// and targets = window[1..T] and no target is lost between windows. A fraction of windows,
// evenly spread over the corpus (at least one), is held out for validation; no randomness.

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { writingFile } from '../util/files'
import type { Tokenizer } from '../tokenizer'
import { DataError, newSkipReport, recordSkip, type SkipReport } from './errors'
import { listCorpusFiles, readUtf8File } from './files'
import { readRecords, recordValue, requireString } from './records'

export interface PretrainDataOptions {
  /** Files and/or folders. */
  paths: string | string[]
  tokenizer: Tokenizer
  seqLen: number
  /** Share of windows held out for validation, 0..0.5 (default 0.05); at least one window. */
  valFraction?: number
  /** Folder for the token cache (e.g. <home>/cache); no caching when absent. */
  cacheDir?: string
  /** Skip (and count) bad JSONL lines instead of stopping on the first. */
  skipInvalid?: boolean
}

/** Windows over one token stream: window i is tokens[starts[i] .. starts[i] + windowLength). */
export interface TokenWindows {
  tokens: Int32Array
  starts: Int32Array
  /** seq_len + 1 */
  windowLength: number
}

export interface PretrainData {
  seqLen: number
  train: TokenWindows
  val: TokenWindows
  stats: {
    files: number
    documents: number
    tokens: number
    trainWindows: number
    valWindows: number
    /** True when the tokens came from the cache. */
    cached: boolean
    cacheFile?: string
    skipped: SkipReport
  }
}

export interface CorpusTokens {
  tokens: Int32Array
  files: string[]
  documents: number
  cached: boolean
  cacheFile?: string
  skipped: SkipReport
}

export function loadPretrainData(opts: PretrainDataOptions): PretrainData {
  const seqLen = opts.seqLen
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`pretraining data: seq_len must be a positive integer, got ${seqLen}`)
  const valFraction = opts.valFraction ?? 0.05
  if (!(valFraction >= 0 && valFraction <= 0.5)) throw new Error(`pretraining data: val_fraction must be between 0 and 0.5, got ${valFraction}`)

  const corpus = tokenizeCorpus(opts.paths, opts.tokenizer, { cacheDir: opts.cacheDir, skipInvalid: opts.skipInvalid })
  const { train, val } = packWindows(corpus.tokens, seqLen, valFraction)
  return {
    seqLen,
    train,
    val,
    stats: {
      files: corpus.files.length,
      documents: corpus.documents,
      tokens: corpus.tokens.length,
      trainWindows: train.starts.length,
      valWindows: val.starts.length,
      cached: corpus.cached,
      cacheFile: corpus.cacheFile,
      skipped: corpus.skipped,
    },
  }
}

/** All documents of all files as one token stream (`<s> doc </s>` each), from the cache when it matches. */
export function tokenizeCorpus(paths: string | string[], tokenizer: Tokenizer, opts: { cacheDir?: string; skipInvalid?: boolean } = {}): CorpusTokens {
  const files = listCorpusFiles(paths)
  const fileInfos = files.map((file) => {
    const bytes = fs.readFileSync(file)
    return { path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
  })
  const key = createHash('sha256')
    .update(JSON.stringify({ version: 1, tokenizer: tokenizer.hash(), skipInvalid: !!opts.skipInvalid, files: fileInfos }))
    .digest('hex')
  const cacheFile = opts.cacheDir ? path.join(opts.cacheDir, `pretrain-${key.slice(0, 24)}.bin`) : undefined
  if (cacheFile) {
    const hit = readCache(cacheFile, key)
    if (hit) return { tokens: hit.tokens, files, documents: hit.documents, cached: true, cacheFile, skipped: hit.skipped }
  }

  const stream = new TokenStream()
  const skipped = newSkipReport()
  let documents = 0
  for (const file of files) {
    const docs = readCorpusDocuments(file, opts.skipInvalid ? skipped : undefined)
    for (const doc of docs) {
      stream.push(tokenizer.encode(doc, { bos: true, eos: true }))
      documents++
    }
  }
  const tokens = stream.toArray()
  if (cacheFile) writeCache(cacheFile, key, tokens, documents, skipped)
  return { tokens, files, documents, cached: false, cacheFile, skipped }
}

/**
 * The documents of a corpus one at a time, for training a tokenizer on the same data
 * (`Tokenizer.train(corpusTexts(paths), ...)`), with the same errors as tokenizeCorpus.
 */
export function* corpusTexts(paths: string | string[], opts: { skipInvalid?: boolean } = {}): Generator<string> {
  const skipped = newSkipReport()
  for (const file of listCorpusFiles(paths)) yield* readCorpusDocuments(file, opts.skipInvalid ? skipped : undefined)
}

/** One document per text file; one per line of a JSONL file (its `text` field). */
export function readCorpusDocuments(file: string, skipped?: SkipReport): string[] {
  if (path.extname(file).toLowerCase() !== '.jsonl') return [readUtf8File(file)]
  const docs: string[] = []
  for (const record of readRecords(file)) {
    try {
      const text = requireString(recordValue(record), 'text', record.where, { allowEmpty: true })
      if (text.length > 0) docs.push(text)
    } catch (err) {
      if (!skipped || !(err instanceof DataError)) throw err
      recordSkip(skipped, err)
    }
  }
  if (docs.length === 0) throw new DataError({ file }, 'no documents: no line has a non-empty "text" field')
  return docs
}

/** Cuts the stream into windows of seq_len + 1 and holds out evenly spaced ones for validation. */
export function packWindows(tokens: Int32Array, seqLen: number, valFraction: number): { train: TokenWindows; val: TokenWindows } {
  const count = Math.floor((tokens.length - 1) / seqLen)
  if (count < 2) {
    throw new Error(
      `pretraining data: ${tokens.length} tokens make ${Math.max(count, 0)} window(s) of seq_len + 1 = ${seqLen + 1} tokens; ` +
        'need at least 2 (one to train on, one to validate): add text or lower seq_len',
    )
  }
  const valCount = Math.min(count - 1, Math.max(1, Math.round(count * valFraction)))
  const isVal = new Uint8Array(count)
  for (let k = 0; k < valCount; k++) isVal[Math.floor(((k + 0.5) * count) / valCount)] = 1
  const trainStarts: number[] = []
  const valStarts: number[] = []
  for (let i = 0; i < count; i++) (isVal[i] ? valStarts : trainStarts).push(i * seqLen)
  const windowLength = seqLen + 1
  return {
    train: { tokens, starts: Int32Array.from(trainStarts), windowLength },
    val: { tokens, starts: Int32Array.from(valStarts), windowLength },
  }
}

/** A growable Int32Array. */
class TokenStream {
  private buffer = new Int32Array(1 << 16)
  private length = 0

  push(ids: number[]): void {
    if (this.length + ids.length > this.buffer.length) {
      const bigger = new Int32Array(Math.max(this.buffer.length * 2, this.length + ids.length))
      bigger.set(this.buffer.subarray(0, this.length))
      this.buffer = bigger
    }
    this.buffer.set(ids, this.length)
    this.length += ids.length
  }

  toArray(): Int32Array {
    return this.buffer.slice(0, this.length)
  }
}

// The cache: <name>.bin holds the tokens as little-endian int32, <name>.json the full key and counts.

function readCache(binFile: string, key: string): { tokens: Int32Array; documents: number; skipped: SkipReport } | undefined {
  const metaFile = binFile.replace(/\.bin$/, '.json')
  if (!fs.existsSync(binFile) || !fs.existsSync(metaFile)) return undefined
  try {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'))
    const bytes = fs.readFileSync(binFile)
    if (meta.key !== key || bytes.length !== meta.tokens * 4) return undefined
    const tokens = new Int32Array(meta.tokens)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    for (let i = 0; i < tokens.length; i++) tokens[i] = view.getInt32(i * 4, true)
    return { tokens, documents: meta.documents, skipped: meta.skipped }
  } catch {
    return undefined // a damaged cache is rebuilt, never trusted
  }
}

function writeCache(binFile: string, key: string, tokens: Int32Array, documents: number, skipped: SkipReport): void {
  fs.mkdirSync(path.dirname(binFile), { recursive: true })
  const bytes = Buffer.alloc(tokens.length * 4)
  for (let i = 0; i < tokens.length; i++) bytes.writeInt32LE(tokens[i], i * 4)
  const metaFile = binFile.replace(/\.bin$/, '.json')
  // Write to temporary names and rename, so a crash never leaves a half-written cache behind.
  writingFile(binFile + '.tmp', () => fs.writeFileSync(binFile + '.tmp', bytes))
  const meta = JSON.stringify({ key, tokens: tokens.length, documents, skipped }) + '\n'
  writingFile(metaFile + '.tmp', () => fs.writeFileSync(metaFile + '.tmp', meta))
  fs.renameSync(binFile + '.tmp', binFile)
  fs.renameSync(metaFile + '.tmp', metaFile)
}
