// Rollouts for PPO: generate a response to each prompt, pack prompt + response into right-padded
// rows, and run the models once over them for per-token log-probs, values and entropy.
//
// Row layout: tokens[b][t] = sequence[t], targets[b][t] = sequence[t + 1]; position t "acts" by
// producing targets[b][t]. The response mask is 1 where targets[b][t] is a response token, so every
// per-token array ([B, W]) lines up: log-probs, values (the value head reads the hidden state that
// chose the token, as TRL's value model), KL, rewards, advantages.
import { tf } from '../backend/tf'
import { generateBatch } from '../model/generate'
import type { ScalarHead } from '../model/heads'
import { linear } from '../model/kernels/linear'
import { targetLogProbs } from '../model/kernels/targetLogProbs'
import type { Llama } from '../model/llama'
import type { ChatMessage } from '../data/chatTemplate'
import type { GoldItem } from '../eval/gold'
import { entropyFromLogits } from './losses'

export interface PpoPrompt {
  id: string
  /** The encoded chat prompt (ending with the assistant token). */
  ids: number[]
  /** The user's last turn, for sample tables. */
  text: string
  /** The conversation it answers (a reward model with another tokenizer encodes this). */
  messages: ChatMessage[]
  /** Tagged as a safety prompt (category or tag `safety`): the safety reward decides. */
  safety: boolean
  /** Present when the prompt is a gold-checked item (the demo world): the rollout is also judged. */
  gold?: GoldItem
}

export interface GenerationSettings {
  maxNewTokens: number
  temperature: number
  /** Ends a response; when produced it is kept as the response's last token, so the policy learns to stop. */
  stopId: number
  signal?: AbortSignal
}

/**
 * One response per prompt. The ONE place PPO generates: one generate() call per prompt with the
 * KV cache; a batched generator replaces the loop here without touching the rest.
 */
export async function generateResponses(model: Llama, prompts: number[][], seeds: number[], s: GenerationSettings): Promise<number[][]> {
  // Every prompt in one batch with its own seed: row i equals generate(prompts[i], { seed: seeds[i] }).
  const rooms = prompts.map((p) => Math.max(0, Math.min(s.maxNewTokens, model.config.max_seq_len - p.length)))
  const rows = await generateBatch(model, prompts, { maxNewTokens: rooms, temperature: s.temperature, seeds, stopIds: [s.stopId], signal: s.signal })
  return rows.map((out) => (out.stoppedBy === 'stop' ? [...out.ids, s.stopId] : out.ids))
}

/** Prompt + response rows, right-padded to the longest, with the response mask (see the file comment). */
export interface PackedRollouts {
  tokens: number[][]
  targets: number[][]
  mask: number[][]
  width: number
}

export function packRollouts(prompts: number[][], responses: number[][], padId: number): PackedRollouts {
  if (prompts.length !== responses.length) throw new Error(`packRollouts: ${prompts.length} prompts for ${responses.length} responses`)
  const sequences = prompts.map((p, b) => [...p, ...responses[b]])
  const width = Math.max(1, ...sequences.map((s) => s.length - 1))
  const tokens = sequences.map((s) => Array.from({ length: width }, (_, t) => (t < s.length ? s[t] : padId)))
  const targets = sequences.map((s) => Array.from({ length: width }, (_, t) => (t + 1 < s.length ? s[t + 1] : padId)))
  const mask = sequences.map((s, b) => Array.from({ length: width }, (_, t) => (t + 1 >= prompts[b].length && t + 1 < s.length ? 1 : 0)))
  return { tokens, targets, mask, width }
}

/** The value model: a head on the policy's own trunk (shared) or on a trunk of its own (separate). */
export interface ValueModel {
  head: ScalarHead
  /** Absent: the head reads the policy's hidden states. */
  trunk?: Llama
}

export type PolicyOutputs = {
  /** log pi(target) at temperature, [B, W] */
  logp: tf.Tensor2D
  /** Per-token values, [B, W]; absent when no value model was given. */
  values?: tf.Tensor2D
  /** Entropy of the (tempered) next-token distribution, [B, W]; only when asked. */
  entropy?: tf.Tensor2D
}

/** One forward pass: log-probs of the targets (logits / temperature, as TRL), values, entropy. Differentiable. */
export function policyOutputs(model: Llama, tokens: tf.Tensor2D, targets: tf.Tensor2D, temperature: number, value?: ValueModel, withEntropy = false): PolicyOutputs {
  return tf.tidy(() => {
    const [batch, width] = tokens.shape
    const hidden = model.hidden(tokens) // [B, W, D]
    const outName = model.config.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'
    let logits = linear(tf.reshape(hidden, [batch * width, model.config.dim]), model.weights[outName] as unknown as tf.Tensor2D) // [N, V]
    if (temperature > 0 && temperature !== 1) logits = tf.div(logits, temperature)
    const flatTargets = tf.reshape(tf.cast(targets, 'int32'), [batch * width]) as tf.Tensor1D
    const out: PolicyOutputs = { logp: tf.reshape(targetLogProbs(logits, flatTargets), [batch, width]) as tf.Tensor2D }
    if (value) out.values = value.head.perToken(value.trunk ? value.trunk.hidden(tokens) : hidden)
    if (withEntropy) out.entropy = tf.reshape(entropyFromLogits(logits), [batch, width]) as tf.Tensor2D
    return out
  })
}

/** A [B, W] tensor as rows of numbers (disposes the tensor). */
export async function toRows(t: tf.Tensor2D): Promise<number[][]> {
  const rows = await t.array()
  t.dispose()
  return rows
}
