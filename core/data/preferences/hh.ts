// Anthropic HH-RLHF lines: {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}.
// Both fields are whole transcripts; they share the conversation up to the last Assistant turn,
// which becomes `messages`, and differ in that last turn, which is the answer.
//
// Quirks of the real files this reader accepts (not errors): transcripts start with "\n\n" (a few
// without), markers are "Human:" / "Assistant:" followed by a space or not, answers and turns
// carry trailing whitespace (trimmed), a final answer may be empty ("\n\nAssistant:" and nothing
// after it: an empty answer is a legitimate, if bad, answer), and two turns of the same speaker
// in a row occur (merged into one turn, joined by a blank line, so roles alternate).
// Errors: the two conversations before the answer differ, a transcript has no Assistant turn (or
// does not end with one), or the two answers are identical.

import type { ChatMessage } from '../chatTemplate'
import { DataError, describeWhere, type Where } from '../errors'
import { requireString } from '../records'
import type { PreferencePair } from '../preferences'

/** A speaker marker at the start of a turn: a blank line (or the start of the text), then the name and a colon. */
const MARKER = /(?:^|\n\n)(Human|Assistant):[ \t]?/g

interface Turn {
  role: 'user' | 'assistant'
  content: string
}

/** "\n\nHuman: Hi\n\nAssistant: Hello" -> [{user, "Hi"}, {assistant, "Hello"}], contents trimmed, same-speaker turns merged. */
export function parseHhTranscript(text: string, where: Where): Turn[] {
  const markers = [...text.matchAll(MARKER)]
  if (markers.length === 0) throw new DataError(where, 'no "Human:" or "Assistant:" turn in the transcript')
  const before = text.slice(0, markers[0].index).trim()
  if (before.length > 0) throw new DataError(where, `text before the first "Human:" turn: ${JSON.stringify(before.slice(0, 40))}`)
  const turns: Turn[] = []
  markers.forEach((m, i) => {
    const start = m.index + m[0].length
    const end = i + 1 < markers.length ? markers[i + 1].index : text.length
    const role = m[1] === 'Human' ? 'user' : 'assistant'
    const content = text.slice(start, end).trim()
    const previous = turns[turns.length - 1]
    if (previous && previous.role === role) previous.content = [previous.content, content].filter(Boolean).join('\n\n')
    else turns.push({ role, content })
  })
  return turns
}

/** The conversation before the final Assistant turn, and that turn's text (the answer). */
function splitAnswer(text: string, where: Where): { context: Turn[]; answer: string } {
  const turns = parseHhTranscript(text, where)
  const last = turns[turns.length - 1]
  if (!turns.some((t) => t.role === 'assistant')) throw new DataError(where, 'no "Assistant:" turn, so there is no answer to compare')
  if (last.role !== 'assistant') throw new DataError(where, 'the transcript ends with a "Human:" turn, not with the answer')
  const context = turns.slice(0, -1)
  if (context.length === 0) throw new DataError(where, 'the transcript starts with the answer: there is no "Human:" turn before it')
  return { context, answer: last.content }
}

function sameConversation(a: Turn[], b: Turn[]): boolean {
  return a.length === b.length && a.every((t, i) => t.role === b[i].role && t.content === b[i].content)
}

export function parseHhRecord(value: Record<string, unknown>, where: Where): PreferencePair {
  const chosenText = requireString(value, 'chosen', where)
  const rejectedText = requireString(value, 'rejected', where)
  const chosen = splitAnswer(chosenText, { ...where, field: 'chosen' })
  const rejected = splitAnswer(rejectedText, { ...where, field: 'rejected' })
  if (!sameConversation(chosen.context, rejected.context)) {
    throw new DataError({ ...where, field: 'rejected' }, `the conversation before the last "Assistant:" turn differs from "chosen"'s (${describeDifference(chosen.context, rejected.context)})`)
  }
  if (chosen.answer === rejected.answer) throw new DataError({ ...where, field: 'rejected' }, 'its last answer is identical to "chosen"\'s, so the pair teaches nothing')
  const messages: ChatMessage[] = chosen.context
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')
  const { chosen: _c, rejected: _r, ...extra } = value
  return {
    id: where.line !== undefined ? `line-${where.line}` : `item-${where.item ?? 0}`,
    prompt: lastUser?.content ?? '',
    messages,
    chosen: chosen.answer,
    rejected: rejected.answer,
    extra,
    source: describeWhere(where),
  }
}

function describeDifference(a: Turn[], b: Turn[]): string {
  if (a.length !== b.length) return `${a.length} turns before the answer vs ${b.length}`
  const i = a.findIndex((t, k) => t.role !== b[k].role || t.content !== b[k].content)
  return `turn ${i + 1} differs`
}
