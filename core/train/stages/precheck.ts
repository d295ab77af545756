// Cheap checks of a run's data before the run is recorded: every file exists, is readable and
// non-empty, and its first records parse in the format the stage reads. They read only the head of
// each file (HEAD_BYTES), so a large corpus costs no more than a small one; a problem further in
// is still found by the run itself, and then fails it with the same clear message.
import fs from 'node:fs'
import path from 'node:path'
import { DataError, listCorpusFiles, parsePromptRecord, parseSftRecord, type Where } from '../../data'
import { isObject, jsonType } from '../../data/records'

const HEAD_BYTES = 64 * 1024
/** Records parsed per file: enough to catch a wrong format, few enough to be instant. */
const HEAD_RECORDS = 20

/** One parsed record of the file's head, or why it did not parse. */
type HeadRecord = { where: Where; value: Record<string, unknown> } | { where: Where; error: string }

/** Checks a file is there, readable and not empty; returns its first bytes as text. */
export function readHead(file: string): { text: string; complete: boolean } {
  let fd: number
  try {
    fd = fs.openSync(file, 'r')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new DataError({ file }, code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code})`)
  }
  try {
    if (!fs.fstatSync(fd).isFile()) throw new DataError({ file }, 'is not a file')
    const buffer = Buffer.alloc(HEAD_BYTES)
    const n = fs.readSync(fd, buffer, 0, HEAD_BYTES, 0)
    const text = buffer.subarray(0, n).toString('utf8')
    if (text.trim().length === 0) throw new DataError({ file }, 'file is empty')
    return { text, complete: n < HEAD_BYTES }
  } finally {
    fs.closeSync(fd)
  }
}

/** The first JSON records of a JSONL file (or of a .json array when it fits in the head). */
function headRecords(file: string): HeadRecord[] {
  const { text, complete } = readHead(file)
  if (path.extname(file).toLowerCase() === '.json') {
    // A JSON array is only parsable whole: check it when the head holds all of it.
    if (!complete) return []
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      throw new DataError({ file }, `not valid JSON (${(err as Error).message})`)
    }
    if (!Array.isArray(value)) throw new DataError({ file }, `expected a JSON array of objects, got ${jsonType(value)}`)
    return value.slice(0, HEAD_RECORDS).map((item, i) => (isObject(item) ? { where: { file, item: i }, value: item } : { where: { file, item: i }, error: `expected a JSON object, got ${jsonType(item)}` }))
  }
  const lines = text.split('\n')
  if (!complete) lines.pop() // the last line may be cut by the head's end
  const out: HeadRecord[] = []
  for (let i = 0; i < lines.length && out.length < HEAD_RECORDS; i++) {
    const line = lines[i].trim()
    if (line.length === 0) continue
    const where = { file, line: i + 1 }
    try {
      const value: unknown = JSON.parse(line)
      out.push(isObject(value) ? { where, value } : { where, error: `expected a JSON object, got ${jsonType(value)}` })
    } catch (err) {
      out.push({ where, error: `not valid JSON (${(err as Error).message})` })
    }
  }
  return out
}

/**
 * Parses the head records of each file with `parse`. A bad record is an error, unless
 * `skipInvalid`, in which case a file is only refused when none of its head records parse.
 */
function checkRecords(files: string[], skipInvalid: boolean, what: string, parse: (value: Record<string, unknown>, where: Where) => void): void {
  for (const file of files) {
    const records = headRecords(file)
    let good = 0
    let firstError: DataError | undefined
    for (const record of records) {
      try {
        if ('error' in record) throw new DataError(record.where, record.error)
        parse(record.value, record.where)
        good++
      } catch (err) {
        if (!(err instanceof DataError)) throw err
        if (!skipInvalid) throw err
        firstError ??= err
      }
    }
    if (records.length > 0 && good === 0) throw new DataError({ file }, `no ${what} among the first ${records.length} records (first problem: ${firstError?.message})`)
  }
}

/** A text corpus (pretraining, tokenizer): .txt / .md files, or JSONL with a "text" field. */
export function precheckCorpus(paths: string[], skipInvalid: boolean): void {
  const files = listCorpusFiles(paths)
  const jsonl = files.filter((f) => path.extname(f).toLowerCase() === '.jsonl')
  for (const file of files) if (!jsonl.includes(file)) readHead(file)
  checkRecords(jsonl, skipInvalid, 'documents', (value, where) => {
    if (typeof value.text !== 'string') throw new DataError({ ...where, field: 'text' }, `expected a string "text" field, got ${jsonType(value.text)}`)
  })
}

/** Instruction data (SFT): every head record is one of the SFT formats. */
export function precheckSft(paths: string[], skipInvalid: boolean): void {
  checkRecords(paths, skipInvalid, 'SFT examples', (value, where) => void parseSftRecord(value, where))
}

/** Prompt sets (core/data/prompts.ts): every head record is a prompt or a conversation ending with a user turn. */
export function precheckPrompts(paths: string[]): void {
  checkRecords(paths, false, 'prompts', (value, where) => void parsePromptRecord(value, where))
}

/** A prompt set whose lines `parse` checks (e.g. the gold sets), stopping at the first bad line. */
export function precheckLines(file: string, parse: (head: string) => void): void {
  const { text, complete } = readHead(file)
  const lines = text.split('\n')
  if (!complete) lines.pop()
  parse(lines.slice(0, HEAD_RECORDS * 4).join('\n'))
}
