// Human-preference pairs for reward models (Llama 2 section 3): JSONL (or a .json array) with
// `prompt`, `chosen`, `rejected`, and optionally `rating` (how much better the chosen answer is),
// `safety` (the pair's safety label), `id`, `category`, and `messages` (the conversation up to
// the last user turn, for multi-turn prompts). Other fields are kept in `extra`.

import type { ChatMessage } from './chatTemplate'
import { DataError, describeWhere, newSkipReport, recordSkip, type SkipReport, type Where } from './errors'
import { readContextMessages, readId } from './prompts'
import { optionalEnum, optionalString, readRecords, recordValue, requireString } from './records'

/** Strongest first; the reward model's margin grows with it. */
export const PREFERENCE_RATINGS = ['significantly_better', 'better', 'slightly_better', 'negligibly_better'] as const
export type PreferenceRating = (typeof PREFERENCE_RATINGS)[number]

/** Llama 2's safety label of a pair: only the chosen answer is safe, both are, neither is.
 * (The gold judge's verdict on a single response is `SafetyVerdict`, core/eval/gold.ts.) */
export const PAIR_SAFETY_LABELS = ['only_chosen_safe', 'both_safe', 'both_unsafe'] as const
export type PairSafetyLabel = (typeof PAIR_SAFETY_LABELS)[number]

/** One preference pair, read from a file or generated (the demo world). `Extra` types the fields
 * beyond the known ones: the demo's generator knows its own (flaw, gold scores), a file's are
 * whatever it carries. */
export interface PreferencePair<Extra extends object = Record<string, unknown>> {
  id: string
  prompt: string
  /** The conversation the answers reply to; [{ role: 'user', content: prompt }] when single-turn. */
  messages: ChatMessage[]
  chosen: string
  rejected: string
  rating?: PreferenceRating
  safety?: PairSafetyLabel
  category?: string
  /** Other fields of the record, kept as they are. */
  extra: Extra
  /** Where the pair came from: "file:line", or the generator. */
  source: string
}

const KNOWN_FIELDS = ['id', 'prompt', 'messages', 'chosen', 'rejected', 'rating', 'safety', 'category']

export function readPreferencePairs(file: string, opts: { skipInvalid?: boolean } = {}): { pairs: PreferencePair[]; skipped: SkipReport } {
  const pairs: PreferencePair[] = []
  const skipped = newSkipReport()
  for (const record of readRecords(file)) {
    try {
      pairs.push(parsePreferenceRecord(recordValue(record), record.where))
    } catch (err) {
      if (!opts.skipInvalid || !(err instanceof DataError)) throw err
      recordSkip(skipped, err)
    }
  }
  if (pairs.length === 0) throw new DataError({ file }, `no valid preference pairs (${skipped.count} skipped)`)
  return { pairs, skipped }
}

export function parsePreferenceRecord(value: Record<string, unknown>, where: Where): PreferencePair {
  const prompt = requireString(value, 'prompt', where)
  const chosen = requireString(value, 'chosen', where)
  const rejected = requireString(value, 'rejected', where)
  if (chosen === rejected) throw new DataError({ ...where, field: 'rejected' }, 'is identical to "chosen", so the pair teaches nothing')
  return {
    id: readId(value, where),
    prompt,
    messages: value.messages === undefined ? [{ role: 'user', content: prompt }] : readContextMessages(value.messages, where),
    chosen,
    rejected,
    rating: optionalEnum(value, 'rating', PREFERENCE_RATINGS, where),
    safety: optionalEnum(value, 'safety', PAIR_SAFETY_LABELS, where),
    category: optionalString(value, 'category', where),
    extra: Object.fromEntries(Object.entries(value).filter(([k]) => !KNOWN_FIELDS.includes(k))),
    source: describeWhere(where),
  }
}
