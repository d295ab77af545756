// How much a dialogue attends to its system message (Ghost Attention, Llama 2 Figure 10): the
// model's attention probabilities over one whole dialogue, as a heat map of query tokens (rows)
// by key tokens (columns), and as the share of attention that each user turn's tokens pay to the
// system message. With GAtt the system message keeps drawing attention late in the dialogue;
// without it, the share fades as the dialogue grows.
import { tf } from '../backend/tf'
import { encodeChat, type ChatMessage } from '../data/chatTemplate'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'

export interface SystemAttentionMap {
  /** Tokens of the dialogue looked at (cut to the model's context). */
  tokens: number
  /** Tokens from <s> through the system message's <|end|>. */
  systemTokens: number
  /** First token of each user turn, in order (a turn cut by the context is left out). */
  turnStarts: number[]
  /** Tokens per bin: the heat map is bins x bins, each cell `binTokens` x `binTokens` tokens. */
  binTokens: number
  /** matrix[r][c]: the largest attention probability, over every layer and head, from a query token of row bin r to a key token of column bin c (0 above the diagonal: causal). */
  matrix: number[][]
  /** Per user turn: the attention mass on the system message's tokens, averaged over layers, heads and the turn's tokens (its answer included). */
  systemShareByTurn: number[]
}

/** A GAtt run's report (attention_map.json, the meta of artifact gatt_attention): each model's map of its first measured dialogue. A type, not an interface: artifact meta is a plain record. */
export type SystemAttentionReport = {
  instruction: string
  /** Without GAtt: the base model. */
  base: SystemAttentionMap
  /** With GAtt: the trained model. */
  gatt: SystemAttentionMap
}

/** Token spans of an encoded chat: the system message's end and each user turn's start (encodeChat's layout: <s>, then role token, content, <|end|> per message). */
function spansOf(tokenizer: Tokenizer, messages: ChatMessage[]): { systemTokens: number; turnStarts: number[] } {
  if (messages[0]?.role !== 'system') throw new Error('systemAttentionMap: the dialogue must open with a system message')
  let at = 1 // <s>
  let systemTokens = 0
  const turnStarts: number[] = []
  for (const message of messages) {
    if (message.role === 'user') turnStarts.push(at)
    at += 2 + tokenizer.encode(message.content).length // role token, content, <|end|>
    if (message.role === 'system') systemTokens = at
  }
  return { systemTokens, turnStarts }
}

/**
 * The attention map of `messages` (a system message, then user and assistant turns) under
 * `model`, binned to at most `bins` x `bins` cells. The dialogue is cut to the model's context.
 */
export function systemAttentionMap(model: Llama, tokenizer: Tokenizer, messages: ChatMessage[], bins = 48): SystemAttentionMap {
  const tokens = encodeChat(tokenizer, messages).tokens.slice(0, model.config.max_seq_len)
  const t = tokens.length
  const spans = spansOf(tokenizer, messages)
  const systemTokens = Math.min(spans.systemTokens, t)
  const turnStarts = spans.turnStarts.filter((start) => start < t)
  const input = tf.tensor2d([tokens], [1, t], 'int32')
  const layers = model.attentionProbabilities(input) // [1, H, T, T] each
  const probs = layers.map((p) => p.dataSync() as Float32Array)
  tf.dispose([input, ...layers])
  const heads = model.config.n_heads
  const binTokens = Math.ceil(t / Math.min(bins, t))
  const cells = Math.ceil(t / binTokens)
  const matrix = Array.from({ length: cells }, () => new Array<number>(cells).fill(0))
  const systemShare = new Float64Array(t) // per query token, mean over layers and heads
  for (const p of probs) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < t; i++) {
        const row = p.subarray((h * t + i) * t, (h * t + i + 1) * t)
        const cellRow = matrix[Math.floor(i / binTokens)]
        let onSystem = 0
        for (let j = 0; j <= i; j++) {
          const c = Math.floor(j / binTokens)
          if (row[j] > cellRow[c]) cellRow[c] = row[j]
          if (j < systemTokens) onSystem += row[j]
        }
        systemShare[i] += onSystem / (probs.length * heads)
      }
    }
  }
  const systemShareByTurn = turnStarts.map((start, n) => {
    const end = Math.min(turnStarts[n + 1] ?? t, t)
    let sum = 0
    for (let i = start; i < end; i++) sum += systemShare[i]
    return round4(sum / (end - start))
  })
  return { tokens: t, systemTokens, turnStarts, binTokens, matrix: matrix.map((r) => r.map(round4)), systemShareByTurn }
}

function round4(x: number): number {
  return Math.round(x * 1e4) / 1e4
}
