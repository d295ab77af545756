// Streaming JSONL: one record per line, read in chunks so a file of any size never sits in memory
// whole; a name ending in .gz is gunzipped on the way. Each line is decoded as strict UTF-8 and
// parsed on its own, so a bad line becomes a record with an error naming file and line, and the
// reader can stop on it or skip and count it.

import fs from 'node:fs'
import zlib from 'node:zlib'
import type { Readable } from 'node:stream'
import { DataError } from '../errors'
import { isObject, jsonType, type SourceRecord } from '../records'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** The file's bytes as a stream, gunzipped when the name ends in .gz. */
export function openDataStream(file: string): Readable {
  if (!fs.existsSync(file)) throw new DataError({ file }, 'file does not exist')
  if (!fs.statSync(file).isFile()) throw new DataError({ file }, 'is not a file')
  const raw = fs.createReadStream(file)
  return file.toLowerCase().endsWith('.gz') ? raw.pipe(zlib.createGunzip()) : raw
}

/** Every non-empty line of a JSONL file (or .jsonl.gz) as a record, in order, with its 1-based line. */
export async function* streamJsonLines(file: string): AsyncGenerator<SourceRecord> {
  let pending: Buffer = Buffer.alloc(0)
  let lineNo = 0
  const stream = openDataStream(file)
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
      let start = 0
      let newline = pending.indexOf(0x0a, start)
      while (newline !== -1) {
        lineNo++
        const record = parseLine(pending.subarray(start, newline), file, lineNo)
        if (record) yield record
        start = newline + 1
        newline = pending.indexOf(0x0a, start)
      }
      pending = pending.subarray(start)
    }
  } catch (err) {
    if (err instanceof DataError) throw err
    // zlib's "incorrect header check" or a read error: say which file and how far it got.
    throw new DataError({ file, line: lineNo + 1 }, `cannot read the file (${(err as Error).message})`)
  }
  if (pending.length > 0) {
    const record = parseLine(pending, file, lineNo + 1)
    if (record) yield record
  }
}

function parseLine(bytes: Buffer, file: string, line: number): SourceRecord | null {
  const where = { file, line }
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    return { where, error: 'not valid UTF-8 (save the file as UTF-8)' }
  }
  text = text.trim()
  if (text.length === 0) return null
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    return { where, error: `not valid JSON (${(err as Error).message})` }
  }
  return isObject(value) ? { where, value } : { where, error: `expected a JSON object, got ${jsonType(value)}` }
}
