// Scoring with a reward model: the one way to turn (conversation, answer) into a scalar, used by
// the reward stage's evaluation, `workbench score`, the chat screen, and later RLHF and safety
// evaluation. An answer is encoded with the chat template (core/train/rewardData.ts
// encodeForScoring: too-long conversations are cut from the left, never inside the answer),
// right-padded, and scored by the `score.weight` head at its last real token.
import { tf } from '../backend/tf'
import type { ChatMessage } from '../data/chatTemplate'
import type { ScalarHead } from '../model/heads'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'
import { encodeForScoring } from '../train/rewardData'

/** A loaded reward model: the trunk and its reward head (loadModel(dir, { heads: ['reward'], scoringOnly: true })). */
export interface RewardModel {
  model: Llama
  head: ScalarHead
}

/** One answer to score, after the conversation it replies to. */
export interface ScoreItem {
  messages: ChatMessage[]
  answer: string
}

/** Scores of token rows (each already encoded), `batchSize` rows per forward pass. */
export async function scoreTokenRows(rm: RewardModel, rows: number[][], batchSize: number, pad: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < rows.length; i += batchSize) {
    const chunk = rows.slice(i, i + batchSize)
    const width = Math.max(...chunk.map((r) => r.length))
    const tokens = new Int32Array(chunk.length * width).fill(pad) // [B*T], right-padded
    chunk.forEach((r, b) => tokens.set(r, b * width))
    const scores = tf.tidy(() => {
      const hidden = rm.model.hidden(tf.tensor2d(tokens, [chunk.length, width], 'int32')) // [B, T, D]
      return rm.head.atPositions(hidden, chunk.map((r) => r.length - 1)) // [B]
    })
    out.push(...(await scores.data()))
    scores.dispose()
  }
  return out
}

/**
 * The reward model's score of each item. An item whose answer alone exceeds the model's context
 * is an error naming it (a score of part of an answer would mislead).
 */
export async function scoreConversations(rm: RewardModel, tokenizer: Tokenizer, items: ScoreItem[], batchSize = 8): Promise<number[]> {
  const seqLen = rm.model.config.max_seq_len
  const rows = items.map((item, i) => {
    const tokens = encodeForScoring(tokenizer, item.messages, item.answer, seqLen)
    if (!tokens) throw new Error(`item ${i + 1}: the answer alone is longer than the reward model's context of ${seqLen} tokens`)
    return tokens
  })
  return await scoreTokenRows(rm, rows, batchSize, tokenizer.special.pad)
}

/**
 * One reward per conversation that ends with the assistant's answer (rejection sampling's K
 * answers, distillation's pairs): `rm` is a model loaded with `heads: ['reward']`.
 */
export async function scoreResponses(rm: { model: Llama; heads: { reward?: ScalarHead } }, tokenizer: Tokenizer, conversations: ChatMessage[][]): Promise<number[]> {
  const head = rm.heads.reward
  if (!head) throw new Error('scoreResponses: the model was loaded without its reward head (loadModel(dir, { heads: ["reward"], scoringOnly: true }))')
  const items = conversations.map((c) => {
    const last = c[c.length - 1]
    if (last?.role !== 'assistant') throw new Error('scoreResponses: each conversation must end with the assistant\'s answer')
    return { messages: c.slice(0, -1), answer: last.content }
  })
  return await scoreConversations({ model: rm.model, head }, tokenizer, items)
}
