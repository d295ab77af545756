// Preference pairs as the reward model sees them: the margin of each rating (Llama 2 Table 28),
// both answers encoded with the chat template and cut from the left of the conversation when too
// long (never inside the answer), the safety/helpfulness mix, and a seeded, resumable stream of
// right-padded pair batches.
import type { ChatMessage } from '../data/chatTemplate'
import { encodeChat } from '../data/chatTemplate'
import type { PreferencePair, PreferenceRating } from '../data/preferences'
import type { Tokenizer } from '../tokenizer'
import { mulberry32 } from '../util/random'
import type { BatchStream } from './batches'
import type { RewardBatch } from './rewardTask'

export const MARGIN_SETTINGS = ['none', 'small', 'large'] as const
export type MarginSetting = (typeof MARGIN_SETTINGS)[number]

/** Llama 2's two margin tables (RECIPE.md), by rating; a pair without a rating gets 0. */
export const MARGIN_TABLES: Record<MarginSetting, Record<PreferenceRating, number>> = {
  none: { significantly_better: 0, better: 0, slightly_better: 0, negligibly_better: 0 },
  small: { significantly_better: 1, better: 2 / 3, slightly_better: 1 / 3, negligibly_better: 0 },
  large: { significantly_better: 3, better: 2, slightly_better: 1, negligibly_better: 0 },
}

export function marginOf(setting: MarginSetting, rating: PreferenceRating | undefined): number {
  return rating === undefined ? 0 : MARGIN_TABLES[setting][rating]
}

/**
 * The tokens a reward model scores: the conversation then the answer, with the chat template
 * (BOS ... <|assistant|> answer <|end|> EOS). When longer than `seqLen`, whole tokens are cut from
 * the left of the conversation (after BOS), so the answer and the turns nearest it stay. Null
 * when the answer alone (with BOS and its role token) does not fit.
 */
export function encodeForScoring(tokenizer: Tokenizer, messages: ChatMessage[], answer: string, seqLen: number): number[] | null {
  const tokens = encodeChat(tokenizer, [...messages, { role: 'assistant', content: answer }]).tokens
  if (tokens.length <= seqLen) return tokens
  const answerStart = tokens.lastIndexOf(tokenizer.special.assistant) // the answer's role token
  const answerPart = tokens.slice(answerStart)
  const room = seqLen - 1 - answerPart.length // after BOS
  if (room < 0) return null
  return [tokens[0], ...tokens.slice(answerStart - room, answerStart), ...answerPart]
}

/** One pair encoded for training or evaluation. */
export interface EncodedPair {
  chosen: number[]
  rejected: number[]
  margin: number
  pair: PreferencePair
}

/** Encodes pairs; those whose answer alone is longer than seqLen are dropped and counted. */
export function encodePairs(tokenizer: Tokenizer, pairs: PreferencePair[], seqLen: number, margin: MarginSetting): { encoded: EncodedPair[]; dropped: number; truncated: number } {
  const encoded: EncodedPair[] = []
  let dropped = 0
  let truncated = 0
  for (const pair of pairs) {
    const chosen = encodeForScoring(tokenizer, pair.messages, pair.chosen, seqLen)
    const rejected = encodeForScoring(tokenizer, pair.messages, pair.rejected, seqLen)
    if (!chosen || !rejected) {
      dropped++
      continue
    }
    if (chosen[1] !== tokenizer.special.system && chosen[1] !== tokenizer.special.user) truncated++
    encoded.push({ chosen, rejected, margin: marginOf(margin, pair.rating), pair })
  }
  return { encoded, dropped, truncated }
}

/** Right-padded rows (pad id `pad`) with their last real token: the batch the task trains on. */
export function pairBatch(pairs: EncodedPair[], pad: number): RewardBatch {
  const seqLen = Math.max(...pairs.flatMap((p) => [p.chosen.length, p.rejected.length]))
  const b = pairs.length
  const chosen = new Int32Array(b * seqLen).fill(pad)
  const rejected = new Int32Array(b * seqLen).fill(pad)
  pairs.forEach((p, i) => {
    chosen.set(p.chosen, i * seqLen)
    rejected.set(p.rejected, i * seqLen)
  })
  return {
    chosen,
    rejected,
    chosenLast: Int32Array.from(pairs, (p) => p.chosen.length - 1),
    rejectedLast: Int32Array.from(pairs, (p) => p.rejected.length - 1),
    margin: Float32Array.from(pairs, (p) => p.margin),
    batchSize: b,
    seqLen,
  }
}

/** Pairs in fixed order, in batches (evaluation). */
export function fixedPairBatches(pairs: EncodedPair[], batchSize: number, pad: number): RewardBatch[] {
  const out: RewardBatch[] = []
  for (let i = 0; i < pairs.length; i += batchSize) out.push(pairBatch(pairs.slice(i, i + batchSize), pad))
  return out
}

interface PairCursor {
  epoch: number
  index: number
}

/** Endless batches, reshuffled every epoch by (seed, epoch); resumable from its cursor. */
export function shuffledPairBatches(pairs: EncodedPair[], batchSize: number, seed: number, pad: number): BatchStream<RewardBatch> {
  if (pairs.length === 0) throw new Error('no training pairs')
  let cursor: PairCursor = { epoch: 0, index: 0 }
  let order = shuffledIndices(pairs.length, seed, 0)
  return {
    next: () => {
      if (cursor.index >= pairs.length) {
        cursor = { epoch: cursor.epoch + 1, index: 0 }
        order = shuffledIndices(pairs.length, seed, cursor.epoch)
      }
      const picked = order.slice(cursor.index, cursor.index + batchSize).map((i) => pairs[i])
      cursor = { ...cursor, index: cursor.index + batchSize }
      return pairBatch(picked, pad)
    },
    cursor: () => ({ ...cursor }),
    restore: (c) => {
      cursor = { ...(c as PairCursor) }
      order = shuffledIndices(pairs.length, seed, cursor.epoch)
    },
  }
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function shuffledIndices(n: number, seed: number, epoch = 0): number[] {
  const rand = mulberry32((seed * 1_000_003 + epoch * 7919) >>> 0)
  const out = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

/** A pair labelled with an unsafe answer (only the chosen is safe, or both are unsafe). */
export function hasUnsafeAnswer(pair: PreferencePair): boolean {
  return pair.safety === 'only_chosen_safe' || pair.safety === 'both_unsafe'
}

/**
 * Which pairs are safety data (Llama 2's Meta Safety set): those with an unsafe answer, and the
 * ones whose answers are both safe but whose prompt is of a risk category, i.e. a category in
 * which `pairs` hold an unsafe answer (borderline prompts: a needless refusal against a helpful
 * answer). Llama 2 kept every safety label bin but chosen-unsafe-over-safe; with the both-safe
 * ones left out, the safety RM only ever saw a refusal win, and preferred refusals to benign
 * look-alikes (0 of 21 pairs of rejection sampling's answers ordered as gold orders them).
 * Without categories, the pairs with an unsafe answer alone.
 */
export function safetyPairsOf(pairs: PreferencePair[]): (pair: PreferencePair) => boolean {
  const riskCategories = new Set(pairs.filter(hasUnsafeAnswer).flatMap((p) => (p.category ? [p.category] : [])))
  return (pair) => hasUnsafeAnswer(pair) || (pair.category !== undefined && riskCategories.has(pair.category))
}

/**
 * Repeats or subsamples a source's pairs by its weight: weight 2 uses each pair twice, 0.5 a
 * seeded half. Weight 1 keeps them as they are.
 */
export function weightPairs<T>(pairs: T[], weight: number, seed: number): T[] {
  const whole = Math.floor(weight)
  const out: T[] = []
  for (let i = 0; i < whole; i++) out.push(...pairs)
  const rest = Math.round((weight - whole) * pairs.length)
  if (rest > 0) out.push(...shuffledIndices(pairs.length, seed).slice(0, rest).map((i) => pairs[i]))
  return out
}

/** The pair itself, or the pair an encoded pair was made from. */
function pairOf(x: { pair: PreferencePair } | PreferencePair): PreferencePair {
  return 'pair' in x ? x.pair : x
}

/**
 * The safety reward model's training mix (Llama 2: 90% safety data, 10% helpfulness data): when
 * both kinds are present, the helpfulness pairs are subsampled (seeded) to a ninth of the safety
 * pairs, or the safety pairs to nine times the helpfulness pairs, whichever keeps more data.
 * `isSafety` says which pairs are safety data (default: safetyPairsOf these pairs).
 */
export function safetyMix<T extends { pair: PreferencePair } | PreferencePair>(
  pairs: T[],
  seed: number,
  isSafety: (pair: PreferencePair) => boolean = safetyPairsOf(pairs.map(pairOf)),
): { mixed: T[]; safety: number; helpfulness: number } {
  const safety = pairs.filter((x) => isSafety(pairOf(x)))
  const helpful = pairs.filter((x) => !isSafety(pairOf(x)))
  if (safety.length === 0 || helpful.length === 0) return { mixed: pairs, safety: safety.length, helpfulness: helpful.length }
  const keepHelpful = Math.min(helpful.length, Math.round(safety.length / 9))
  const keepSafety = Math.min(safety.length, keepHelpful * 9 || safety.length)
  const pick = (xs: T[], n: number, s: number) => shuffledIndices(xs.length, s).slice(0, n).map((i) => xs[i])
  const mixed = [...pick(safety, keepSafety, seed), ...pick(helpful, Math.max(keepHelpful, 1), seed + 1)]
  return { mixed, safety: keepSafety, helpfulness: Math.max(keepHelpful, 1) }
}
