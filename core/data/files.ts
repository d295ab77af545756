// Reading input files as strict UTF-8, and finding corpus files in folders.

import fs from 'node:fs'
import path from 'node:path'
import { DataError } from './errors'

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/** Reads a whole file as UTF-8; an error names the byte offset and line of the first bad byte. */
export function readUtf8File(file: string): string {
  if (!fs.existsSync(file)) throw new DataError({ file }, 'file does not exist')
  if (!fs.statSync(file).isFile()) throw new DataError({ file }, 'is not a file')
  const bytes = fs.readFileSync(file)
  let text: string
  try {
    text = strictUtf8.decode(bytes)
  } catch {
    const offset = firstInvalidUtf8Offset(bytes)
    const line = countNewlines(bytes, offset) + 1
    throw new DataError({ file, line }, `not valid UTF-8: bad byte 0x${bytes[offset].toString(16).padStart(2, '0')} at byte offset ${offset} (save the file as UTF-8)`)
  }
  if (text.trim().length === 0) throw new DataError({ file }, 'file is empty')
  return text
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number {
  let i = 0
  while (i < bytes.length) {
    const b = bytes[i]
    const length = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0
    if (length === 0) return i
    if (i + length > bytes.length) return i
    for (let k = 1; k < length; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i
    const code = decodeCodePoint(bytes, i, length)
    const overlong = (length === 3 && code < 0x800) || (length === 4 && code < 0x10000)
    if (overlong || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return i
    i += length
  }
  return -1
}

function decodeCodePoint(bytes: Uint8Array, i: number, length: number): number {
  if (length === 1) return bytes[i]
  let code = bytes[i] & (0xff >> (length + 1))
  for (let k = 1; k < length; k++) code = (code << 6) | (bytes[i + k] & 0x3f)
  return code
}

function countNewlines(bytes: Uint8Array, end: number): number {
  let n = 0
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++
  return n
}

export const TEXT_EXTENSIONS = ['.txt', '.md', '.text']
export const CORPUS_EXTENSIONS = [...TEXT_EXTENSIONS, '.jsonl']

/**
 * Files or folders -> the corpus files, sorted: folders are searched recursively for
 * .txt / .md / .text / .jsonl (hidden files and folders skipped); a file given by name is taken
 * whatever its extension.
 */
export function listCorpusFiles(paths: string | string[]): string[] {
  const inputs = Array.isArray(paths) ? paths : [paths]
  if (inputs.length === 0) throw new Error('pretraining data: no files or folders given')
  const files: string[] = []
  for (const input of inputs) {
    const abs = path.resolve(input)
    if (!fs.existsSync(abs)) throw new DataError({ file: abs }, 'does not exist')
    if (fs.statSync(abs).isDirectory()) {
      const found = walk(abs)
      if (found.length === 0) throw new DataError({ file: abs }, `folder holds no ${CORPUS_EXTENSIONS.join(' / ')} files`)
      files.push(...found)
    } else files.push(abs)
  }
  return [...new Set(files)]
}

function walk(dir: string): string[] {
  const out: string[] = []
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...walk(full))
    else if (entry.isFile() && CORPUS_EXTENSIONS.includes(path.extname(entry.name).toLowerCase())) out.push(full)
  }
  return out
}
