// Instruction adherence over a dialogue (Ghost Attention, RECIPE.md section 6): a system
// instruction with a gold check ("answer in one sentence", "always mention Millford", "speak as
// Mara Lind and begin with 'Mara here'"), and the share of answers that satisfy it at each turn
// of dialogues up to 20 turns long, where the instruction is given only once, in the first turn.
// The checks are pure functions of the answer, like the gold judges (gold.ts).

import fs from 'node:fs'
import { encodeChatPrompt, type ChatMessage } from '../data/chatTemplate'
import { chatAnswer } from './chatAnswer'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'
import { mulberry32 } from '../util/random'

/** How an answer is checked against its instruction. Serialisable: it travels in instruction JSONL. */
export type AdherenceCheck =
  /** Exactly one sentence: no sentence end (. ! ?) followed by more text. */
  | { type: 'one_sentence' }
  /** At most `count` words. */
  | { type: 'max_words'; count: number }
  /** `text` appears as whole words, case ignored ("always mention Millford"). */
  | { type: 'mention'; text: string }
  /** The answer opens with `text`, case ignored ("speak as Mara: begin with 'Mara here'"). */
  | { type: 'starts_with'; text: string }

export interface Instruction {
  id: string
  /** The system instruction as the model reads it. */
  instruction: string
  check: AdherenceCheck
}

/** Instructions that need no world: the default set when a GAtt run names no instruction file. */
export const GENERIC_INSTRUCTIONS: Instruction[] = [
  { id: 'one-sentence', instruction: 'Answer in one sentence.', check: { type: 'one_sentence' } },
  { id: 'max-8-words', instruction: 'Answer in eight words or fewer.', check: { type: 'max_words', count: 8 } },
]

/** A user turn with the instruction joined in front: how GAtt samples answers that follow it. */
export function samplingTurns(instruction: string, userTurn: string): string {
  return `${instruction} ${userTurn}`
}

const CHECK_TYPES = ['one_sentence', 'max_words', 'mention', 'starts_with']

/** True when `answer` satisfies the check. An empty answer satisfies nothing. */
export function followsInstruction(check: AdherenceCheck, answer: string): boolean {
  const text = answer.trim()
  if (text.length === 0) return false
  switch (check.type) {
    case 'one_sentence':
      // A sentence end followed by anything but closing quotes or brackets starts a second sentence.
      return !/[.!?]+["')\]]*\s+\S/.test(text)
    case 'max_words':
      return text.split(/\s+/).length <= check.count
    case 'mention':
      return wordsOf(text).includes(wordsOf(check.text))
    case 'starts_with':
      return wordsOf(text).startsWith(wordsOf(check.text))
  }
}

/** Lowercased words joined by single spaces, padded with a space at both ends for whole-word search. */
function wordsOf(text: string): string {
  const words = text.toLowerCase().split(/[^\p{L}\p{N}']+/u).filter((w) => w.length > 0)
  return ` ${words.join(' ')} `
}

/** Reads an instruction set: JSONL lines `{ "id"?, "instruction", "check": { "type", ... } }`. Errors name file, line and field. */
export function readInstructions(file: string): Instruction[] {
  const out: Instruction[] = []
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (line.length === 0) return
    out.push(parseInstruction(line, `${file}:${i + 1}`))
  })
  if (out.length === 0) throw new Error(`${file}: no instructions (the file is empty)`)
  return out
}

export function parseInstruction(line: string, where: string): Instruction {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch (err) {
    throw new Error(`${where}: not valid JSON (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where}: expected a JSON object`)
  const v = value as Record<string, unknown>
  if (typeof v.instruction !== 'string' || v.instruction.trim() === '') throw new Error(`${where}: field "instruction" must be a non-empty string`)
  const check = v.check as Record<string, unknown> | undefined
  if (typeof check !== 'object' || check === null || !CHECK_TYPES.includes(check.type as string)) {
    throw new Error(`${where}: field "check.type" must be one of ${CHECK_TYPES.join(', ')}`)
  }
  if (check.type === 'max_words' && !(Number.isInteger(check.count) && (check.count as number) > 0)) throw new Error(`${where}: field "check.count" must be a positive integer`)
  if ((check.type === 'mention' || check.type === 'starts_with') && (typeof check.text !== 'string' || check.text.trim() === '')) {
    throw new Error(`${where}: field "check.text" must be a non-empty string`)
  }
  const id = typeof v.id === 'string' && v.id !== '' ? v.id : where.split(':').pop()!
  return { id, instruction: v.instruction, check: check as AdherenceCheck }
}

export function instructionToLine(instruction: Instruction): string {
  return JSON.stringify(instruction)
}

// ---------- measuring a model ----------

export interface AdherenceOptions {
  /** Dialogue length in user turns (the paper: 20). */
  turns: number
  /** Dialogues per instruction. */
  dialoguesPerInstruction: number
  maxNewTokens: number
  /** Picks the user turns of each dialogue. */
  seed: number
  signal?: AbortSignal
}

export interface AdherenceResult {
  /** byTurn[t] = share of answers at turn t + 1 that satisfy their instruction. */
  byTurn: number[]
  /** Answers judged at each turn. */
  counts: number[]
  /** Mean over every judged answer. */
  mean: number
  /** The first dialogue measured (the first instruction's), as far as it went: for looking at its attention (systemAttention.ts). */
  firstDialogue: ChatMessage[]
}

/**
 * Runs dialogues of `turns` user turns, the instruction only in the first turn (as the system
 * message), answering greedily, and returns the share of answers that follow it at each turn.
 * A dialogue ends when it no longer fits the model's context with room for a whole answer: the
 * later turns are not judged (their counts say how many dialogues reached them; a turn no
 * dialogue reached is NaN). No turn is ever dropped from the middle: keeping the instruction and
 * only the latest turns would put it right before every answer, so "turn 20" would measure a
 * dialogue of two or three turns and no model could lose the instruction (measured at the tiny
 * demo: 128 tokens hold the instruction and two turns of an 8-turn, ~450-token dialogue).
 */
export async function measureAdherence(
  model: Llama,
  tokenizer: Tokenizer,
  instructions: Instruction[],
  userTurns: string[],
  opts: AdherenceOptions,
): Promise<AdherenceResult> {
  if (userTurns.length === 0) throw new Error('measureAdherence: no user turns to ask')
  const followed = new Array<number>(opts.turns).fill(0)
  const counts = new Array<number>(opts.turns).fill(0)
  const rand = mulberry32(opts.seed)
  let firstDialogue: ChatMessage[] = []
  for (const instruction of instructions) {
    for (let d = 0; d < opts.dialoguesPerInstruction; d++) {
      const messages: ChatMessage[] = [{ role: 'system', content: instruction.instruction }]
      if (firstDialogue.length === 0) firstDialogue = messages
      for (let t = 0; t < opts.turns; t++) {
        if (opts.signal?.aborted) return adherenceOf(followed, counts, firstDialogue)
        messages.push({ role: 'user', content: userTurns[Math.floor(rand() * userTurns.length)] })
        const answer = await wholeDialogueAnswer(model, tokenizer, messages, opts.maxNewTokens)
        if (answer === null) break // the dialogue outgrew the context
        messages.push({ role: 'assistant', content: answer })
        counts[t]++
        if (followsInstruction(instruction.check, answer)) followed[t]++
      }
    }
  }
  return adherenceOf(followed, counts, firstDialogue)
}

function adherenceOf(followed: number[], counts: number[], firstDialogue: ChatMessage[]): AdherenceResult {
  const total = counts.reduce((a, b) => a + b, 0)
  return {
    byTurn: followed.map((f, t) => (counts[t] > 0 ? f / counts[t] : NaN)),
    counts,
    mean: total > 0 ? followed.reduce((a, b) => a + b, 0) / total : NaN,
    firstDialogue,
  }
}

/** A greedy answer to the whole dialogue, or null when the dialogue and a whole answer (`maxNewTokens`) do not fit the context. */
async function wholeDialogueAnswer(model: Llama, tokenizer: Tokenizer, messages: ChatMessage[], maxNewTokens: number): Promise<string | null> {
  if (encodeChatPrompt(tokenizer, messages).length + maxNewTokens > model.config.max_seq_len) return null
  return (await chatAnswer(model, tokenizer, messages, { maxNewTokens, temperature: 0, seed: 0 }))?.text ?? ''
}
