// JSONL (one JSON object per line) or a .json file holding an array: both become a list of
// records that remember where they came from. A line that is not valid JSON becomes a record
// with an error, so readers can either stop on it or skip and count it.

import path from 'node:path'
import { DataError, type Where } from './errors'
import { readUtf8File } from './files'

export type SourceRecord = { where: Where; value: Record<string, unknown> } | { where: Where; error: string }

export function readRecords(file: string): SourceRecord[] {
  const text = readUtf8File(file)
  return path.extname(file).toLowerCase() === '.json' ? readJsonArray(text, file) : readJsonLines(text, file)
}

function readJsonLines(text: string, file: string): SourceRecord[] {
  const records: SourceRecord[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim()
    if (line.length === 0) continue
    const where = { file, line: i + 1 }
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch (err) {
      records.push({ where, error: `not valid JSON (${(err as Error).message})` })
      continue
    }
    records.push(isObject(value) ? { where, value } : { where, error: `expected a JSON object, got ${jsonType(value)}` })
  }
  return records
}

function readJsonArray(text: string, file: string): SourceRecord[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new DataError({ file }, `not valid JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(value)) throw new DataError({ file }, `expected a JSON array of objects, got ${jsonType(value)}`)
  if (value.length === 0) throw new DataError({ file }, 'the array is empty')
  return value.map((item, i) => {
    const where = { file, item: i }
    return isObject(item) ? { where, value: item } : { where, error: `expected a JSON object, got ${jsonType(item)}` }
  })
}

/** Turns a record into its value, or throws its error as a DataError. */
export function recordValue(record: SourceRecord): Record<string, unknown> {
  if ('error' in record) throw new DataError(record.where, record.error)
  return record.value
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

export function jsonType(value: unknown): string {
  if (value === null) return 'null'
  if (value === undefined) return 'nothing (the field is missing)'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

// Field readers: a wrong or missing field throws a DataError naming it.

export function requireString(obj: Record<string, unknown>, key: string, where: Where, opts: { allowEmpty?: boolean } = {}): string {
  const value = obj[key]
  if (value === undefined) throw new DataError({ ...where, field: key }, 'missing')
  if (typeof value !== 'string') throw new DataError({ ...where, field: key }, `expected a string, got ${jsonType(value)}`)
  if (!opts.allowEmpty && value.trim().length === 0) throw new DataError({ ...where, field: key }, 'is empty')
  return value
}

export function optionalString(obj: Record<string, unknown>, key: string, where: Where): string | undefined {
  const value = obj[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string') throw new DataError({ ...where, field: key }, `expected a string, got ${jsonType(value)}`)
  return value
}

export function optionalEnum<T extends string>(obj: Record<string, unknown>, key: string, choices: readonly T[], where: Where): T | undefined {
  const value = obj[key]
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'string' || !choices.includes(value as T)) {
    throw new DataError({ ...where, field: key }, `expected one of ${choices.join(', ')}, got ${JSON.stringify(value)}`)
  }
  return value as T
}
