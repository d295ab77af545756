// The one chat template of the workbench, built from the tokenizer's special tokens. Every
// stage that formats a conversation (SFT, rejection sampling, PPO prompts, evaluation) uses it.
//
// The rule:
//   <s>                                     once, first
//   <|system|> content <|end|>              for a system message
//   <|user|> content <|end|>                for a user message
//   <|assistant|> content <|end|>           for an assistant message
//   </s>                                    once, last (training examples only)
// e.g. <s><|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello!<|end|></s>
// Role and end tokens are the special ids; content is encoded as plain text, so "<|end|>" typed
// by a user stays text and cannot forge a turn. No spaces or newlines are added around content.
//
// Loss mask: 1 on the tokens of every assistant message's content and on the <|end|> that closes
// it (so the model learns to stop), 0 on everything else (<s>, role tokens, system and user
// turns, </s>). With `lossOn: 'last_assistant'` (Ghost Attention) only the last assistant
// message carries loss: every earlier turn, the model's own earlier answers included, is 0.
// With `openEnd` the last message was cut short (a sampled answer that ran out of new tokens): its
// <|end|> and the closing </s> are left out, so nothing teaches the model to stop where the cut
// fell; it is learned as a prefix, as an over-long SFT example cut at seq_len is.

import type { Tokenizer } from '../tokenizer'

export type ChatRole = 'system' | 'user' | 'assistant'

export interface ChatMessage {
  role: ChatRole
  content: string
}

export interface EncodedChat {
  tokens: number[]
  /** lossMask[i] = 1 when token i is learned (predicted from the tokens before it). */
  lossMask: number[]
}

export function roleTokenId(tokenizer: Tokenizer, role: ChatRole): number {
  return role === 'system' ? tokenizer.special.system : role === 'user' ? tokenizer.special.user : tokenizer.special.assistant
}

/** Which assistant turns carry loss: all of them (SFT), or only the last one (Ghost Attention). */
export type ChatLossOn = 'assistant' | 'last_assistant'

/** A whole conversation for training, with its loss mask. */
export function encodeChat(tokenizer: Tokenizer, messages: ChatMessage[], opts: { lossOn?: ChatLossOn; openEnd?: boolean } = {}): EncodedChat {
  const lastAssistant = opts.lossOn === 'last_assistant' ? messages.map((m) => m.role).lastIndexOf('assistant') : -1
  const tokens: number[] = [tokenizer.special.bos]
  const lossMask: number[] = [0]
  const push = (ids: number[], learned: number) => {
    for (const id of ids) {
      tokens.push(id)
      lossMask.push(learned)
    }
  }
  messages.forEach((message, i) => {
    const learned = message.role === 'assistant' && (lastAssistant < 0 || i === lastAssistant) ? 1 : 0
    push([roleTokenId(tokenizer, message.role)], 0)
    push(tokenizer.encode(message.content), learned)
    if (opts.openEnd && i === messages.length - 1) return // cut short: no <|end|>, no </s>
    push([tokenizer.special.end_of_turn], learned)
  })
  if (!opts.openEnd) push([tokenizer.special.eos], 0)
  return { tokens, lossMask }
}

/**
 * A prompt for generation: the conversation so far, then `<|assistant|>`; the model writes the
 * answer and ends it with <|end|> (see chatStopTokens).
 */
export function encodeChatPrompt(tokenizer: Tokenizer, messages: ChatMessage[]): number[] {
  const tokens: number[] = [tokenizer.special.bos]
  for (const message of messages) {
    tokens.push(roleTokenId(tokenizer, message.role), ...tokenizer.encode(message.content), tokenizer.special.end_of_turn)
  }
  tokens.push(tokenizer.special.assistant)
  return tokens
}

/** Generation of an assistant turn stops at either of these. */
export function chatStopTokens(tokenizer: Tokenizer): number[] {
  return [tokenizer.special.end_of_turn, tokenizer.special.eos]
}
