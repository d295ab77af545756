// Prompt sets for the later stages (rejection sampling, PPO, evaluation): JSONL (or a .json
// array) with `prompt`, and optionally `id`, `category`, `tags`, and `messages` (the conversation
// up to the last user turn, for multi-turn prompts). Other fields (e.g. a gold checker) are kept
// in `extra`.

import type { ChatMessage } from './chatTemplate'
import { DataError, describeWhere, newSkipReport, recordSkip, type SkipReport, type Where } from './errors'
import { jsonType, optionalString, readRecords, recordValue, requireString } from './records'
import { CHAT_ROLES, readTurns } from './sft'

export interface PromptItem {
  id: string
  prompt: string
  /** The conversation to answer; [{ role: 'user', content: prompt }] for single-turn prompts. */
  messages: ChatMessage[]
  category?: string
  tags: string[]
  extra: Record<string, unknown>
  source: string
}

const KNOWN_FIELDS = ['id', 'prompt', 'messages', 'category', 'tags']

export function readPromptSet(file: string, opts: { skipInvalid?: boolean } = {}): { items: PromptItem[]; skipped: SkipReport } {
  const items: PromptItem[] = []
  const skipped = newSkipReport()
  const seenIds = new Map<string, string>()
  for (const record of readRecords(file)) {
    try {
      const item = parsePromptRecord(recordValue(record), record.where)
      const earlier = seenIds.get(item.id)
      if (earlier) throw new DataError({ ...record.where, field: 'id' }, `duplicate id ${JSON.stringify(item.id)} (first at ${earlier})`)
      seenIds.set(item.id, item.source)
      items.push(item)
    } catch (err) {
      if (!opts.skipInvalid || !(err instanceof DataError)) throw err
      recordSkip(skipped, err)
    }
  }
  if (items.length === 0) throw new DataError({ file }, `no valid prompts (${skipped.count} skipped)`)
  return { items, skipped }
}

export function parsePromptRecord(value: Record<string, unknown>, where: Where): PromptItem {
  const prompt = requireString(value, 'prompt', where)
  const messages =
    value.messages === undefined
      ? [{ role: 'user' as const, content: prompt }]
      : readContextMessages(value.messages, where)
  return {
    id: readId(value, where),
    prompt,
    messages,
    category: optionalString(value, 'category', where),
    tags: readTags(value, where),
    extra: Object.fromEntries(Object.entries(value).filter(([k]) => !KNOWN_FIELDS.includes(k))),
    source: describeWhere(where),
  }
}

/** The id as given (string or number), else "line-N" / "item-N". */
export function readId(value: Record<string, unknown>, where: Where): string {
  const id = value.id
  if (id === undefined || id === null) return where.line !== undefined ? `line-${where.line}` : `item-${where.item ?? 0}`
  if (typeof id === 'string' && id.trim()) return id
  if (typeof id === 'number' && Number.isFinite(id)) return String(id)
  throw new DataError({ ...where, field: 'id' }, `expected a non-empty string or a number, got ${jsonType(id)}`)
}

function readTags(value: Record<string, unknown>, where: Where): string[] {
  const tags = value.tags
  if (tags === undefined || tags === null) return []
  if (!Array.isArray(tags) || !tags.every((t) => typeof t === 'string')) {
    throw new DataError({ ...where, field: 'tags' }, `expected a list of strings, got ${jsonType(tags)}`)
  }
  return tags
}

/** A conversation that ends with the user turn to answer. */
export function readContextMessages(list: unknown, where: Where): ChatMessage[] {
  const turns = readTurns(list, 'messages', 'role', 'content', CHAT_ROLES, where)
  const last = turns[turns.length - 1]
  if (last.role !== 'user') throw new DataError({ ...where, field: `messages[${turns.length - 1}].role` }, `the last turn must be "user", got "${last.role}"`)
  return turns
}
