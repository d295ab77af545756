// `--format auto`: which importer reads a file, decided from its first record that any of them
// could read (a line that is not a JSON object decides nothing).

import type { PreferencePair } from '../preferences'
import type { Where } from '../errors'
import { parseHhRecord } from './hh'
import { parseTrlRecord } from './trl'
import { parseWorkbenchRecord } from './workbench'

export const PREFERENCE_FORMATS = ['hh', 'trl', 'workbench'] as const
export type PreferenceFormat = (typeof PREFERENCE_FORMATS)[number]

export const PARSERS: Record<PreferenceFormat, (value: Record<string, unknown>, where: Where) => PreferencePair> = {
  hh: parseHhRecord,
  trl: parseTrlRecord,
  workbench: parseWorkbenchRecord,
}

const HH_MARKER = /(^|\n\n)(Human|Assistant):/

/**
 * The format a record looks like, or undefined when it looks like none:
 * - no prompt, chosen a string with "Human:"/"Assistant:" turns -> hh
 * - message lists, a TRL score field, or an implicit string prompt -> trl
 * - prompt, chosen and rejected strings -> workbench (a superset of TRL's standard explicit prompt,
 *   reading rating and safety too)
 */
export function detectFormat(value: Record<string, unknown>): PreferenceFormat | undefined {
  const { prompt, chosen, rejected } = value
  if (chosen === undefined || rejected === undefined) return undefined
  if (prompt === undefined && typeof chosen === 'string' && HH_MARKER.test(chosen)) return 'hh'
  if ([prompt, chosen, rejected].some(Array.isArray)) return 'trl'
  if (['margin', 'score_chosen', 'score_rejected'].some((k) => k in value)) return 'trl'
  if (prompt === undefined && typeof chosen === 'string') return 'trl'
  if (typeof prompt === 'string' && typeof chosen === 'string' && typeof rejected === 'string') return 'workbench'
  return undefined
}
