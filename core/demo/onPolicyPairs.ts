// An annotation round on the policy's own samples, with the demo world's gold judges as the
// annotators. Llama 2 (section 3.2.1) collected preference data weekly on samples from the
// LATEST model, so each reward model stays on the distribution it has to rank; a reward model
// trained only on the world's templated pairs (correct vs wrong, polite vs rude) ranks the
// policy's own answers at about chance, and best-of-K then selects noise.
//
// For each training prompt (never an eval prompt) a few answers are sampled from the policy;
// consecutive answers form a pair, the gold judge picks the chosen one (a safe answer over an
// unsafe one, else the more helpful), and gold ties are dropped, as an annotator would skip them.

import type { PreferencePair } from '../data/preferences'
import type { PromptItem } from '../data/prompts'
import type { ChatMessage } from '../data/chatTemplate'
import { GOLD_TIE_MARGIN, goldPreference } from '../eval/goldAgreement'
import type { GoldItem } from '../eval/gold'
import { goldItemOf } from '../rl/prompts'
import { labelPair, type DemoPairNotes } from './preferences'

/** What the round labelled: its pairs, and what it left out and why. */
export interface OnPolicyAnnotation {
  pairs: PreferencePair<DemoPairNotes>[]
  /** Prompts sampled from (with a gold check, not excluded). */
  prompts: number
  /** Pairs the gold judge called a tie (or whose two answers were the same text or empty). */
  ties: number
  /** Prompts skipped because they are eval prompts. */
  excluded: number
}

/**
 * Pairs (answers[0], answers[1]), (answers[2], answers[3]), ... of one prompt, each labelled by
 * the gold judges; ties, empty answers and identical answers give no pair.
 */
export function labelOwnSamples(item: GoldItem, answers: string[], idPrefix: string, tieMargin = GOLD_TIE_MARGIN): { pairs: PreferencePair<DemoPairNotes>[]; ties: number } {
  const pairs: PreferencePair<DemoPairNotes>[] = []
  let ties = 0
  for (let i = 0; i + 1 < answers.length; i += 2) {
    const [a, b] = [answers[i], answers[i + 1]]
    const preference = a === '' || b === '' || a === b ? 0 : goldPreference(item, a, b, tieMargin)
    const pair = preference === 0 ? null : labelPair(item, preference > 0 ? a : b, preference > 0 ? b : a, 'on_policy', `${idPrefix}-${i / 2}`)
    if (pair) pairs.push(pair)
    else ties++
  }
  return { pairs, ties }
}

/** The conversation a prompt asks about, as a key (two files' copies of one prompt match). */
export function conversationKey(messages: ChatMessage[]): string {
  return JSON.stringify(messages.map((m) => [m.role, m.content.trim()]))
}

/** Answers to one conversation from the policy (the stage samples them with generateBatch). */
export type SampleAnswers = (messages: ChatMessage[], seed: number) => Promise<string[]>

/**
 * Samples answers to each prompt with `sample` and labels them with labelOwnSamples. Prompts
 * without a gold check give nothing; prompts whose conversation is in `exclude` (the eval sets)
 * are never sampled. Prompt i is sampled with seed `seed + i * 1000`.
 */
export async function annotateOwnSamples(
  items: PromptItem[],
  sample: SampleAnswers,
  opts: { seed: number; exclude: Set<string>; signal?: AbortSignal; onPrompt?: (done: number) => void },
): Promise<OnPolicyAnnotation> {
  const out: OnPolicyAnnotation = { pairs: [], prompts: 0, ties: 0, excluded: 0 }
  for (const [i, item] of items.entries()) {
    if (opts.signal?.aborted) break
    opts.onPrompt?.(i + 1)
    if (opts.exclude.has(conversationKey(item.messages))) {
      out.excluded++
      continue
    }
    const gold = goldItemOf(item)
    if (!gold) continue
    out.prompts++
    const labelled = labelOwnSamples(gold, await sample(item.messages, opts.seed + i * 1000), `onpolicy-${item.id}`)
    out.pairs.push(...labelled.pairs)
    out.ties += labelled.ties
  }
  return out
}
