// Supervised fine-tuning data. Four formats, detected per line (JSONL, or a .json array):
//   Alpaca          {"instruction", "input"?, "output", "system"?}
//   chat messages   {"messages": [{"role": "system"|"user"|"assistant", "content"}]}  (OpenAI / HF)
//   ShareGPT        {"conversations": [{"from": "system"|"human"|"gpt", "value"}]}
//   prompt/response {"prompt", "response", "system"?}
// Each becomes a conversation, encoded with the chat template (chatTemplate.ts) and its loss
// mask. Too long examples (more than seq_len + 1 tokens) follow `overflow`:
//   'truncate' keeps the first seq_len + 1 tokens (the tail is cut; an example left with no
//              assistant token is dropped), 'drop' drops the example. Both are counted.

import type { Tokenizer } from '../tokenizer'
import { encodeChat, type ChatLossOn, type ChatMessage, type ChatRole } from './chatTemplate'
import { DataError, describeWhere, newSkipReport, recordSkip, type SkipReport, type Where } from './errors'
import { isObject, jsonType, optionalString, readRecords, recordValue, requireString } from './records'

export type SftFormat = 'alpaca' | 'messages' | 'sharegpt' | 'prompt_response'
export type OverflowRule = 'truncate' | 'drop'

export interface SftExample {
  /** At most seq_len + 1 tokens. */
  tokens: Int32Array
  /** 1 where the token is learned. */
  lossMask: Uint8Array
  /** "file:line", for events about this example. */
  source: string
}

export interface SftDataOptions {
  paths: string | string[]
  tokenizer: Tokenizer
  seqLen: number
  /** Default 'truncate'. */
  overflow?: OverflowRule
  /** Skip (and count) bad lines instead of stopping on the first. */
  skipInvalid?: boolean
  /** Share of examples held out for validation, 0..0.5 (default 0); evenly spread, at least one when > 0. */
  valFraction?: number
  /** Which assistant turns carry loss (default all; Ghost Attention: only the last). */
  lossOn?: ChatLossOn
}

export interface SftStats {
  records: number
  examples: number
  truncated: number
  dropped: number
  /** Of the dropped: truncation left no assistant token. */
  droppedNoTrainable: number
  skipped: SkipReport
  formats: Record<SftFormat, number>
  tokens: number
  trainableTokens: number
}

export interface SftData {
  seqLen: number
  train: SftExample[]
  val: SftExample[]
  stats: SftStats
}

export function loadSftData(opts: SftDataOptions): SftData {
  const { tokenizer, seqLen } = opts
  const overflow = opts.overflow ?? 'truncate'
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new Error(`SFT data: seq_len must be a positive integer, got ${seqLen}`)
  if (overflow !== 'truncate' && overflow !== 'drop') throw new Error(`SFT data: overflow must be "truncate" or "drop", got ${JSON.stringify(overflow)}`)
  const valFraction = opts.valFraction ?? 0
  if (!(valFraction >= 0 && valFraction <= 0.5)) throw new Error(`SFT data: val_fraction must be between 0 and 0.5, got ${valFraction}`)

  const files = Array.isArray(opts.paths) ? opts.paths : [opts.paths]
  const stats: SftStats = {
    records: 0,
    examples: 0,
    truncated: 0,
    dropped: 0,
    droppedNoTrainable: 0,
    skipped: newSkipReport(),
    formats: { alpaca: 0, messages: 0, sharegpt: 0, prompt_response: 0 },
    tokens: 0,
    trainableTokens: 0,
  }
  const examples: SftExample[] = []
  const maxTokens = seqLen + 1
  for (const file of files) {
    for (const record of readRecords(file)) {
      stats.records++
      let parsed: ReturnType<typeof parseSftRecord>
      try {
        parsed = parseSftRecord(recordValue(record), record.where)
      } catch (err) {
        if (!opts.skipInvalid || !(err instanceof DataError)) throw err
        recordSkip(stats.skipped, err)
        continue
      }
      stats.formats[parsed.format]++
      let { tokens, lossMask } = encodeChat(tokenizer, parsed.messages, { lossOn: opts.lossOn, openEnd: parsed.unfinished })
      if (tokens.length > maxTokens) {
        if (overflow === 'drop') {
          stats.dropped++
          continue
        }
        stats.truncated++
        tokens = tokens.slice(0, maxTokens)
        lossMask = lossMask.slice(0, maxTokens)
        // Token 0 is never a target; only positions 1.. count.
        if (!lossMask.some((m, i) => i > 0 && m === 1)) {
          stats.dropped++
          stats.droppedNoTrainable++
          continue
        }
      }
      examples.push({ tokens: Int32Array.from(tokens), lossMask: Uint8Array.from(lossMask), source: describeWhere(record.where) })
      stats.tokens += tokens.length
      stats.trainableTokens += lossMask.reduce((a, b) => a + b, 0)
    }
  }
  stats.examples = examples.length
  if (examples.length === 0 || stats.trainableTokens === 0) {
    throw new Error(
      `SFT data ${files.join(', ')}: no trainable (assistant) tokens: ${stats.records} records, ${stats.skipped.count} skipped as invalid, ` +
        `${stats.dropped} dropped as longer than seq_len + 1 = ${maxTokens} tokens (overflow: ${overflow})`,
    )
  }
  const { train, val } = splitEvenly(examples, valFraction)
  return { seqLen, train, val, stats }
}

/** Holds out evenly spaced items (at least one when fraction > 0 and there are two or more). */
export function splitEvenly<T>(items: T[], fraction: number): { train: T[]; val: T[] } {
  if (fraction <= 0 || items.length < 2) return { train: items, val: [] }
  const valCount = Math.min(items.length - 1, Math.max(1, Math.round(items.length * fraction)))
  const isVal = new Set<number>()
  for (let k = 0; k < valCount; k++) isVal.add(Math.floor(((k + 0.5) * items.length) / valCount))
  return { train: items.filter((_, i) => !isVal.has(i)), val: items.filter((_, i) => isVal.has(i)) }
}

export const CHAT_ROLES: Record<string, ChatRole> = { system: 'system', user: 'user', assistant: 'assistant' }
/** ShareGPT's names, plus the chat names some ShareGPT exports use. */
const SHAREGPT_ROLES: Record<string, ChatRole> = { system: 'system', human: 'user', gpt: 'assistant', user: 'user', assistant: 'assistant' }

/**
 * Detects the format of one record and turns it into a conversation with at least one assistant
 * turn. A `messages` record may say `"unfinished": true`: its last (assistant) turn was cut short,
 * e.g. a sampled answer that ran out of new tokens (rejection sampling writes such lines), and is
 * learned without the end-of-turn token (encodeChat's openEnd).
 */
export function parseSftRecord(value: Record<string, unknown>, where: Where): { format: SftFormat; messages: ChatMessage[]; unfinished: boolean } {
  if ('messages' in value) {
    const messages = readMessages(value.messages, 'messages', 'role', 'content', CHAT_ROLES, where)
    return { format: 'messages', messages, unfinished: readUnfinished(value, messages, where) }
  }
  return { ...parseOtherFormats(value, where), unfinished: false }
}

function readUnfinished(value: Record<string, unknown>, messages: ChatMessage[], where: Where): boolean {
  if (!('unfinished' in value)) return false
  if (typeof value.unfinished !== 'boolean') throw new DataError({ ...where, field: 'unfinished' }, `expected true or false, got ${jsonType(value.unfinished)}`)
  if (value.unfinished && messages[messages.length - 1].role !== 'assistant') {
    throw new DataError({ ...where, field: 'unfinished' }, 'is true, but the last turn is not an assistant answer that could have been cut')
  }
  return value.unfinished
}

function parseOtherFormats(value: Record<string, unknown>, where: Where): { format: SftFormat; messages: ChatMessage[] } {
  if ('conversations' in value) {
    return { format: 'sharegpt', messages: readMessages(value.conversations, 'conversations', 'from', 'value', SHAREGPT_ROLES, where) }
  }
  if ('instruction' in value) {
    const instruction = requireString(value, 'instruction', where)
    const input = optionalString(value, 'input', where)
    const output = requireString(value, 'output', where)
    const user = input && input.trim() ? `${instruction}\n\n${input}` : instruction
    return { format: 'alpaca', messages: [...systemMessage(value, where), { role: 'user', content: user }, { role: 'assistant', content: output }] }
  }
  if ('prompt' in value) {
    const prompt = requireString(value, 'prompt', where)
    const response = requireString(value, 'response', where)
    return { format: 'prompt_response', messages: [...systemMessage(value, where), { role: 'user', content: prompt }, { role: 'assistant', content: response }] }
  }
  const keys = Object.keys(value).join(', ') || 'none'
  throw new DataError(where, `unknown SFT format (keys: ${keys}); expected "messages", "conversations" (ShareGPT), "instruction"/"output" (Alpaca) or "prompt"/"response"`)
}

function systemMessage(value: Record<string, unknown>, where: Where): ChatMessage[] {
  const system = optionalString(value, 'system', where)
  return system && system.trim() ? [{ role: 'system', content: system }] : []
}

/** A conversation for SFT: valid turns, at least one of them the assistant's. */
export function readMessages(
  list: unknown,
  listKey: string,
  roleKey: string,
  contentKey: string,
  roles: Record<string, ChatRole>,
  where: Where,
): ChatMessage[] {
  const messages = readTurns(list, listKey, roleKey, contentKey, roles, where)
  if (!messages.some((m) => m.role === 'assistant')) {
    throw new DataError({ ...where, field: listKey }, 'has no assistant turn, so nothing to learn')
  }
  return messages
}

/** A non-empty list of turns; `roleKey`/`contentKey` name the fields ("role"/"content" or ShareGPT's "from"/"value"). */
export function readTurns(
  list: unknown,
  listKey: string,
  roleKey: string,
  contentKey: string,
  roles: Record<string, ChatRole>,
  where: Where,
): ChatMessage[] {
  if (!Array.isArray(list)) throw new DataError({ ...where, field: listKey }, `expected a list of turns, got ${jsonType(list)}`)
  if (list.length === 0) throw new DataError({ ...where, field: listKey }, 'is empty')
  return list.map((turn, i): ChatMessage => {
    const field = `${listKey}[${i}]`
    if (!isObject(turn)) throw new DataError({ ...where, field }, `expected an object, got ${jsonType(turn)}`)
    const roleName = turn[roleKey]
    const role = typeof roleName === 'string' && Object.hasOwn(roles, roleName) ? roles[roleName] : undefined
    if (!role) {
      throw new DataError({ ...where, field: `${field}.${roleKey}` }, `expected one of ${Object.keys(roles).join(', ')}, got ${JSON.stringify(roleName)}`)
    }
    const content = turn[contentKey]
    if (typeof content !== 'string') throw new DataError({ ...where, field: `${field}.${contentKey}` }, `expected a string, got ${jsonType(content)}`)
    if (content.trim().length === 0) throw new DataError({ ...where, field: `${field}.${contentKey}` }, 'is empty')
    return { role, content }
  })
}

