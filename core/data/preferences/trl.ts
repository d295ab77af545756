// TRL's preference formats (huggingface.co/docs/trl, "Dataset formats"):
//   standard, explicit prompt:       {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}
//   standard, implicit prompt:       {"chosen": "The sky is blue.", "rejected": "The sky is green."}
//   conversational, explicit prompt: {"prompt": [{role, content}...], "chosen": [{"role": "assistant", ...}], "rejected": [...]}
//   conversational, implicit prompt: {"chosen": [full conversation], "rejected": [full conversation]}
// and optionally `margin` (RewardTrainer) or `score_chosen` / `score_rejected` (e.g. UltraFeedback).
// A standard implicit prompt is the longest common prefix of the two texts (as TRL's
// extract_prompt does); a conversational one is the turns the two conversations share, and the
// answer is the last assistant turn of each.

import type { ChatMessage } from '../chatTemplate'
import { DataError, describeWhere, type Where } from '../errors'
import { jsonType } from '../records'
import { CHAT_ROLES, readTurns } from '../sft'
import { readId } from '../prompts'
import type { PreferencePair } from '../preferences'

const KNOWN_FIELDS = ['id', 'prompt', 'chosen', 'rejected', 'margin', 'score_chosen', 'score_rejected']

export function parseTrlRecord(value: Record<string, unknown>, where: Where): PreferencePair {
  const { chosen, rejected } = value
  if (chosen === undefined) throw new DataError({ ...where, field: 'chosen' }, 'missing')
  if (rejected === undefined) throw new DataError({ ...where, field: 'rejected' }, 'missing')
  const conversational = Array.isArray(chosen) || Array.isArray(rejected) || Array.isArray(value.prompt)
  const pair = conversational ? conversationalPair(value, where) : standardPair(value, where)
  if (pair.chosen === pair.rejected) throw new DataError({ ...where, field: 'rejected' }, 'is identical to "chosen", so the pair teaches nothing')
  const extra: Record<string, unknown> = Object.fromEntries(Object.entries(value).filter(([k]) => !KNOWN_FIELDS.includes(k)))
  for (const key of ['margin', 'score_chosen', 'score_rejected']) {
    const v = value[key]
    if (v === undefined || v === null) continue
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new DataError({ ...where, field: key }, `expected a number, got ${jsonType(v)}`)
    extra[key] = v
  }
  const lastUser = [...pair.messages].reverse().find((m) => m.role === 'user')
  return { id: readId(value, where), prompt: lastUser?.content ?? '', ...pair, extra, source: describeWhere(where) }
}

function standardPair(value: Record<string, unknown>, where: Where): { messages: ChatMessage[]; chosen: string; rejected: string } {
  const chosen = stringField(value, 'chosen', where)
  const rejected = stringField(value, 'rejected', where)
  if (value.prompt !== undefined) {
    const prompt = stringField(value, 'prompt', where)
    if (prompt.trim().length === 0) throw new DataError({ ...where, field: 'prompt' }, 'is empty')
    return { messages: [{ role: 'user', content: prompt }], chosen, rejected }
  }
  const shared = commonPrefixLength(chosen, rejected)
  const prompt = chosen.slice(0, shared)
  if (prompt.trim().length === 0) throw new DataError({ ...where, field: 'chosen' }, 'implicit prompt: "chosen" and "rejected" share no beginning, so there is no prompt')
  return { messages: [{ role: 'user', content: prompt }], chosen: chosen.slice(shared), rejected: rejected.slice(shared) }
}

function conversationalPair(value: Record<string, unknown>, where: Where): { messages: ChatMessage[]; chosen: string; rejected: string } {
  const chosen = readTurns(value.chosen, 'chosen', 'role', 'content', CHAT_ROLES, where)
  const rejected = readTurns(value.rejected, 'rejected', 'role', 'content', CHAT_ROLES, where)
  if (value.prompt !== undefined) {
    const messages = readTurns(value.prompt, 'prompt', 'role', 'content', CHAT_ROLES, where)
    if (messages[messages.length - 1].role === 'assistant') {
      throw new DataError({ ...where, field: `prompt[${messages.length - 1}].role` }, 'the prompt ends with an assistant turn; the answers in "chosen"/"rejected" should follow a user turn')
    }
    return { messages, chosen: onlyAnswer(chosen, 'chosen', where), rejected: onlyAnswer(rejected, 'rejected', where) }
  }
  // Implicit prompt: the shared turns are the conversation, the last (assistant) turn the answer.
  for (const [name, turns] of [['chosen', chosen], ['rejected', rejected]] as const) {
    if (turns[turns.length - 1].role !== 'assistant') throw new DataError({ ...where, field: `${name}[${turns.length - 1}].role` }, 'the conversation must end with the assistant\'s answer')
  }
  const context = chosen.slice(0, -1)
  const sameContext = context.length === rejected.length - 1 && context.every((m, i) => m.role === rejected[i].role && m.content === rejected[i].content)
  if (!sameContext) throw new DataError({ ...where, field: 'rejected' }, 'implicit prompt: the turns before the last answer differ from "chosen"\'s')
  if (context.length === 0) throw new DataError({ ...where, field: 'chosen' }, 'implicit prompt: only an answer, no conversation before it')
  return { messages: context, chosen: chosen[chosen.length - 1].content, rejected: rejected[rejected.length - 1].content }
}

/** Explicit prompt: "chosen"/"rejected" hold the assistant's continuation, one turn. */
function onlyAnswer(turns: ChatMessage[], field: string, where: Where): string {
  if (turns.length !== 1 || turns[0].role !== 'assistant') {
    throw new DataError({ ...where, field }, `expected one assistant turn after an explicit prompt, got ${turns.length} turn(s) (${turns.map((t) => t.role).join(', ')})`)
  }
  return turns[0].content
}

function stringField(value: Record<string, unknown>, key: string, where: Where): string {
  const v = value[key]
  if (typeof v !== 'string') throw new DataError({ ...where, field: key }, `expected a string or a list of messages, got ${jsonType(v)}`)
  return v
}

/** Where the two texts part; a space just before that goes with the answers (as TRL's extract_prompt does). */
function commonPrefixLength(a: string, b: string): number {
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  if (i > 0 && a[i - 1] === ' ') i--
  return i
}
