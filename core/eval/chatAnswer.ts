// The one call by which context distillation, GAtt and the adherence measure write a chat answer:
// the conversation encoded with the chat template, one answer generated up to the end of the
// turn. Kept alone so the batched generator (generateBatch) can replace generate() in one place.
import { chatStopTokens, encodeChatPrompt, type ChatMessage } from '../data/chatTemplate'
import { generate } from '../model/generate'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'

export interface ChatAnswerOptions {
  maxNewTokens: number
  /** 0 = greedy. */
  temperature: number
  seed: number
  signal?: AbortSignal
}

/** An answer, and whether it ended with the end-of-turn token (false: cut at maxNewTokens or the context's end). */
export interface ChatAnswer {
  text: string
  finished: boolean
}

/** The model's answer to `messages` (trimmed text), or null when the prompt leaves no room in the model's context. */
export async function chatAnswer(model: Llama, tokenizer: Tokenizer, messages: ChatMessage[], opts: ChatAnswerOptions): Promise<ChatAnswer | null> {
  const ids = encodeChatPrompt(tokenizer, messages)
  const room = Math.min(opts.maxNewTokens, model.config.max_seq_len - ids.length)
  if (room < 1) return null
  const out = await generate(model, ids, { maxNewTokens: room, temperature: opts.temperature, seed: opts.seed, stopIds: chatStopTokens(tokenizer), signal: opts.signal })
  return { text: tokenizer.decode(out.ids).trim(), finished: out.stoppedBy === 'stop' }
}
