// Reading a preference file in any known format, streaming: each pair is handed to `onPair` as
// its line is read. A bad line stops the read with an error naming file, line and field, or, with
// skipInvalid, is counted (and its first reasons kept) and skipped.

import { DataError, newSkipReport, recordSkip, type SkipReport } from '../errors'
import { recordValue } from '../records'
import type { PreferencePair } from '../preferences'
import { streamJsonLines } from './lines'
import { detectFormat, PARSERS, PREFERENCE_FORMATS, type PreferenceFormat } from './detect'

export interface ReadPreferencesOptions {
  format?: PreferenceFormat | 'auto'
  skipInvalid?: boolean
}

export interface ReadPreferencesResult {
  format: PreferenceFormat
  pairs: number
  skipped: SkipReport
}

export async function readPreferenceFile(
  file: string,
  onPair: (pair: PreferencePair) => void,
  opts: ReadPreferencesOptions = {},
): Promise<ReadPreferencesResult> {
  const requested = opts.format ?? 'auto'
  if (requested !== 'auto' && !PREFERENCE_FORMATS.includes(requested)) {
    throw new Error(`unknown preference format "${requested}" (known: auto, ${PREFERENCE_FORMATS.join(', ')})`)
  }
  let format: PreferenceFormat | undefined = requested === 'auto' ? undefined : requested
  const skipped = newSkipReport()
  let pairs = 0
  for await (const record of streamJsonLines(file)) {
    try {
      const value = recordValue(record)
      if (format === undefined) {
        format = detectFormat(value)
        if (format === undefined) {
          throw new DataError(record.where, `cannot tell the format from this line (fields: ${Object.keys(value).join(', ') || 'none'}); expected HH ("chosen"/"rejected" transcripts), TRL or workbench fields, or pass --format`)
        }
      }
      onPair(PARSERS[format](value, record.where))
      pairs++
    } catch (err) {
      if (!opts.skipInvalid || !(err instanceof DataError)) throw err
      recordSkip(skipped, err)
    }
  }
  if (pairs === 0 || format === undefined) throw new DataError({ file }, `no valid preference pairs (${skipped.count} line(s) skipped)`)
  return { format, pairs, skipped }
}

/** The whole file as a list (small files, tests). */
export async function readPreferenceList(file: string, opts: ReadPreferencesOptions = {}): Promise<ReadPreferencesResult & { list: PreferencePair[] }> {
  const list: PreferencePair[] = []
  const result = await readPreferenceFile(file, (p) => list.push(p), opts)
  return { ...result, list }
}
