// Scoring answers with a reward model: each conversation (ending with the assistant's answer) is
// encoded with the chat template, right-padded, and scored by the reward head at its last real
// token (ScalarHead.score, lastTokenIndices). Rejection sampling uses it; PPO scores its rollouts
// the same way.
import type { ChatMessage } from '../data/chatTemplate'
import { encodeChat } from '../data/chatTemplate'
import { rightPaddedMask } from '../model/heads'
import type { LoadedModel } from '../model/load'
import type { Tokenizer } from '../tokenizer'

/** Conversations scored per forward pass. */
const SCORE_BATCH = 8

/**
 * One reward per conversation. `rm` is a model loaded with `heads: ['reward']`; `tokenizer` is
 * its tokenizer. A conversation longer than the model's context keeps its first max_seq_len tokens.
 */
export function scoreResponses(rm: Pick<LoadedModel, 'model' | 'heads'>, tokenizer: Tokenizer, conversations: ChatMessage[][]): number[] {
  const head = rm.heads.reward
  if (!head) throw new Error('scoreResponses: the model was loaded without its reward head (loadModel(dir, { heads: ["reward"], scoringOnly: true }))')
  const maxLen = rm.model.config.max_seq_len
  const scores: number[] = []
  for (let start = 0; start < conversations.length; start += SCORE_BATCH) {
    const rows = conversations.slice(start, start + SCORE_BATCH).map((c) => encodeChat(tokenizer, c).tokens.slice(0, maxLen))
    const width = Math.max(...rows.map((r) => r.length))
    const tokens = rows.map((r) => [...r, ...new Array<number>(width - r.length).fill(tokenizer.special.pad)]) // [B, T]
    const mask = rightPaddedMask(rows.map((r) => r.length), width)
    const batchScores = head.score(rm.model, tokens, mask) // [B]
    scores.push(...(batchScores.dataSync() as Float32Array))
    batchScores.dispose()
  }
  return scores
}
