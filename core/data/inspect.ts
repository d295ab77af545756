// What a data file is, as the training code will read it: its format (text corpus, SFT,
// preference pairs, prompt set), its counts, its first records as the loaders parse them (for SFT:
// the chat template's tokens and the loss mask), and the errors a run would hit. The checks are
// the loaders' own (parseSftRecord, readPreferenceFile, readPromptSet, readCorpusDocuments,
// readUtf8File), so what this reports is what training reports.
//
// Two depths: detectDataFile() looks at the first record only (cheap, for file pickers);
// inspectDataFile() reads the whole file.

import fs from 'node:fs'
import path from 'node:path'
import type { Tokenizer } from '../tokenizer'
import { encodeChat, type ChatMessage } from './chatTemplate'
import { DataError, newSkipReport, recordSkip, type SkipReport, type Where } from './errors'
import { readUtf8File, TEXT_EXTENSIONS } from './files'
import { readCorpusDocuments } from './corpus'
import { readRecords, recordValue, type SourceRecord } from './records'
import { parseSftRecord, type SftFormat } from './sft'
import { parsePromptRecord, readPromptSet } from './prompts'
import { streamJsonLines } from './preferences/lines'
import { detectFormat, PARSERS } from './preferences/detect'
import { readPreferenceFile } from './preferences/read'
import type { DataFormat } from './formats'

export { DATA_FORMATS, DATA_FORMAT_LABELS, type DataFormat } from './formats'

/** File names the inspector looks at; anything else is not a dataset. */
export const DATASET_EXTENSIONS = ['.txt', '.md', '.text', '.jsonl', '.json', '.jsonl.gz']

export function isDatasetFileName(name: string): boolean {
  const lower = name.toLowerCase()
  return DATASET_EXTENSIONS.some((ext) => lower.endsWith(ext))
}

export interface DataDetection {
  /** The most specific format the first record reads as; null when it reads as none. */
  format: DataFormat | null
  /** Every format whose loader reads the first record (a prompt/response SFT file is also a prompt set). */
  readableAs: DataFormat[]
  /** The SFT or preference sub-format ("messages", "alpaca", "hh", "trl", ...). */
  variant?: string
  /** Why no format was detected. */
  problem?: string
}

/** Most specific first: a preference pair is also a prompt, a prompt/response line too. */
const PRIORITY: DataFormat[] = ['preferences', 'sft', 'prompts', 'text']

/** The format from the file's name and first JSON record; reads no further than that record. */
export async function detectDataFile(file: string): Promise<DataDetection> {
  if (isPlainText(file)) return { format: 'text', readableAs: ['text'] }
  if (!isDatasetFileName(file)) return { format: null, readableAs: [], problem: `not a data file name (expected ${DATASET_EXTENSIONS.join(', ')})` }
  let first: SourceRecord | undefined
  try {
    first = await firstRecord(file)
  } catch (err) {
    return { format: null, readableAs: [], problem: (err as Error).message }
  }
  if (!first) return { format: null, readableAs: [], problem: 'the file holds no records' }
  if ('error' in first) return { format: null, readableAs: [], problem: new DataError(first.where, first.error).message }
  return detectRecord(first.value, first.where)
}

/** Which loaders read one record, and the most specific of them. */
export function detectRecord(value: Record<string, unknown>, where: Where): DataDetection {
  const variants: Partial<Record<DataFormat, string>> = {}
  const readers: Record<DataFormat, () => string | undefined> = {
    text: () => (typeof value.text === 'string' ? undefined : reject()),
    sft: () => parseSftRecord(value, where).format,
    preferences: () => {
      const format = detectFormat(value)
      if (!format) return reject()
      PARSERS[format](value, where)
      return format
    },
    prompts: () => void parsePromptRecord(value, where),
  }
  const readableAs: DataFormat[] = []
  for (const format of PRIORITY) {
    try {
      const variant = readers[format]()
      readableAs.push(format)
      if (variant) variants[format] = variant
    } catch (err) {
      if (!(err instanceof DataError) && !(err instanceof NotThisFormat)) throw err
    }
  }
  const format = readableAs[0] ?? null
  if (!format) {
    const keys = Object.keys(value).join(', ') || 'none'
    return { format, readableAs, problem: `${describeFirst(where)} reads as no known format (keys: ${keys}); expected "text", SFT ("messages", "conversations", "instruction"/"output", "prompt"/"response"), preference pairs ("chosen"/"rejected") or prompts ("prompt")` }
  }
  return { format, readableAs, variant: variants[format] }
}

class NotThisFormat extends Error {}
function reject(): never {
  throw new NotThisFormat()
}

function describeFirst(where: Where): string {
  return where.line !== undefined ? `line ${where.line}` : `item ${where.item ?? 0}`
}

function isPlainText(file: string): boolean {
  return TEXT_EXTENSIONS.includes(path.extname(file).toLowerCase())
}

async function firstRecord(file: string): Promise<SourceRecord | undefined> {
  if (path.extname(file).toLowerCase() === '.json') return readRecords(file)[0]
  for await (const record of streamJsonLines(file)) return record
  return undefined
}

// ---------------------------------------------------------------------------------------------
// The whole file

/** One span of a rendered chat: text with the same loss-mask value; a special token on its own. */
export interface ChatSegment {
  text: string
  /** The model learns these tokens (loss mask 1). */
  trained: boolean
  /** A template token (<s>, <|user|>, <|end|>, ...). */
  special: boolean
  tokens: number
}

export type DataPreview =
  | { kind: 'text'; source: string; text: string; truncated: boolean }
  | { kind: 'sft'; source: string; variant: SftFormat; messages: ChatMessage[]; segments: ChatSegment[]; tokens: number; trainedTokens: number }
  | { kind: 'preferences'; source: string; messages: ChatMessage[]; chosen: string; rejected: string; rating?: string; safety?: string }
  | { kind: 'prompts'; source: string; id: string; messages: ChatMessage[]; category?: string }

export interface DataInspection extends DataDetection {
  file: string
  bytes: number
  counts: {
    /** Records (JSON lines or items) or, for a text file, documents (1). */
    records: number
    /** Records the loader accepts. */
    valid: number
    /** Of a text corpus: characters and lines. */
    characters?: number
    lines?: number
    /** Of SFT records, how many of each sub-format. */
    variants?: Record<string, number>
  }
  preview: DataPreview[]
  /** What a run would stop on: the first bad record, then up to 20 more (with skip_invalid they are skipped and counted). */
  errors: string[]
  /** Records that fail (errors lists the first 20). */
  invalid: number
  /** The tokenizer the SFT preview is encoded with. */
  tokenizer?: string
}

export interface InspectOptions {
  /** Encodes the SFT preview with the chat template (its loss mask shown). */
  tokenizer?: Tokenizer
  /** Named in the result, e.g. the checkpoint the tokenizer came from. */
  tokenizerName?: string
  /** First records shown (default 3). */
  previewCount?: number
  /** Characters of a text document shown (default 600). */
  previewChars?: number
}

/** Reads the whole file with the checks of the loader of its detected format. */
export async function inspectDataFile(file: string, opts: InspectOptions = {}): Promise<DataInspection> {
  const bytes = fs.statSync(file).size
  const detection = await detectDataFile(file)
  const base = { ...detection, file, bytes, preview: [] as DataPreview[], errors: [] as string[], invalid: 0, counts: { records: 0, valid: 0 } }
  if (!detection.format) return { ...base, errors: detection.problem ? [detection.problem] : [] }
  const count = opts.previewCount ?? 3
  try {
    switch (detection.format) {
      case 'text':
        return { ...base, ...inspectText(file, count, opts.previewChars ?? 600) }
      case 'sft':
        return { ...base, ...inspectSft(file, count, opts), tokenizer: opts.tokenizerName }
      case 'preferences':
        return { ...base, ...(await inspectPreferences(file, count)) }
      case 'prompts':
        return { ...base, ...inspectPrompts(file, count) }
    }
  } catch (err) {
    // A whole-file problem (not UTF-8, empty, no valid record): the loader stops on it too.
    if (!(err instanceof DataError)) throw err
    return { ...base, errors: [err.message] }
  }
}

type Inspected = Pick<DataInspection, 'counts' | 'preview' | 'errors' | 'invalid'>

function fromSkips(skipped: SkipReport): Pick<DataInspection, 'errors' | 'invalid'> {
  return { errors: skipped.examples, invalid: skipped.count }
}

/** A .txt/.md file is one document; a JSONL corpus has a "text" field per line. */
function inspectText(file: string, count: number, chars: number): Inspected {
  const skipped = newSkipReport()
  const docs = isPlainText(file) ? [readUtf8File(file)] : readCorpusDocuments(file, skipped)
  const characters = docs.reduce((n, d) => n + d.length, 0)
  const lines = docs.reduce((n, d) => n + countLines(d), 0)
  const preview: DataPreview[] = docs.slice(0, count).map((doc, i) => ({
    kind: 'text',
    source: isPlainText(file) ? file : `${file} document ${i + 1}`,
    text: doc.slice(0, chars),
    truncated: doc.length > chars,
  }))
  return { counts: { records: docs.length + skipped.count, valid: docs.length, characters, lines }, preview, ...fromSkips(skipped) }
}

function countLines(text: string): number {
  let n = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < text.length - 1; i = text.indexOf('\n', i + 1)) n++
  return n
}

/** The SFT loader's record loop (loadSftData), keeping the first examples encoded for the preview. */
function inspectSft(file: string, count: number, opts: InspectOptions): Inspected {
  const skipped = newSkipReport()
  const variants: Record<string, number> = {}
  const preview: DataPreview[] = []
  let records = 0
  for (const record of readRecords(file)) {
    records++
    try {
      const { format, messages } = parseSftRecord(recordValue(record), record.where)
      variants[format] = (variants[format] ?? 0) + 1
      if (preview.length < count) preview.push(sftPreview(record.where, format, messages, opts.tokenizer))
    } catch (err) {
      if (!(err instanceof DataError)) throw err
      recordSkip(skipped, err)
    }
  }
  return { counts: { records, valid: records - skipped.count, variants }, preview, ...fromSkips(skipped) }
}

function sftPreview(where: Where, variant: SftFormat, messages: ChatMessage[], tokenizer?: Tokenizer): DataPreview {
  const source = describeSource(where)
  if (!tokenizer) return { kind: 'sft', source, variant, messages, segments: [], tokens: 0, trainedTokens: 0 }
  const { tokens, lossMask } = encodeChat(tokenizer, messages)
  return { kind: 'sft', source, variant, messages, segments: chatSegments(tokenizer, tokens, lossMask), tokens: tokens.length, trainedTokens: lossMask.reduce((a, b) => a + b, 0) }
}

/**
 * Encoded chat -> spans to show: each special token alone (so the template is visible), the
 * tokens between them grouped while their loss mask stays the same, decoded together (so a
 * character split over byte tokens reads whole).
 */
export function chatSegments(tokenizer: Tokenizer, tokens: number[], lossMask: number[]): ChatSegment[] {
  const specials = new Set(Object.values(tokenizer.special))
  const segments: ChatSegment[] = []
  let run: number[] = []
  let runTrained = false
  const flush = () => {
    if (run.length > 0) segments.push({ text: tokenizer.decode(run), trained: runTrained, special: false, tokens: run.length })
    run = []
  }
  tokens.forEach((id, i) => {
    const trained = lossMask[i] === 1
    if (specials.has(id)) {
      flush()
      segments.push({ text: tokenizer.decode([id]), trained, special: true, tokens: 1 })
      return
    }
    if (run.length > 0 && trained !== runTrained) flush()
    runTrained = trained
    run.push(id)
  })
  flush()
  return segments
}

/** readPreferenceFile, the preferences stage's reader, with skipInvalid so every bad line is counted. */
async function inspectPreferences(file: string, count: number): Promise<Inspected> {
  const preview: DataPreview[] = []
  const result = await readPreferenceFile(
    file,
    (pair) => {
      if (preview.length < count) {
        preview.push({ kind: 'preferences', source: pair.source, messages: pair.messages, chosen: pair.chosen, rejected: pair.rejected, rating: pair.rating, safety: pair.safety })
      }
    },
    { skipInvalid: true },
  )
  return { counts: { records: result.pairs + result.skipped.count, valid: result.pairs, variants: { [result.format]: result.pairs } }, preview, ...fromSkips(result.skipped) }
}

/** readPromptSet, the prompt stages' reader (duplicate ids included), with skipInvalid. */
function inspectPrompts(file: string, count: number): Inspected {
  const { items, skipped } = readPromptSet(file, { skipInvalid: true })
  const preview: DataPreview[] = items.slice(0, count).map((it) => ({ kind: 'prompts', source: it.source, id: it.id, messages: it.messages, category: it.category }))
  return { counts: { records: items.length + skipped.count, valid: items.length }, preview, ...fromSkips(skipped) }
}

function describeSource(where: Where): string {
  return where.line !== undefined ? `${where.file}:${where.line}` : `${where.file} item ${where.item ?? 0}`
}
