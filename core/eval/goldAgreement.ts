// Which of two answers the gold judges prefer, and how often a learned reward agrees with them.
// The demo world's simulated annotator (core/demo/onPolicyPairs.ts) labels pairs with
// goldPreference, and rejection sampling measures its reward model with rewardGoldAgreement on
// the policy's own samples: a reward model can be accurate on the preference file and still rank
// the policy's answers at chance (what made best-of-K select noise before the annotation round).

import { goldHelpfulness, goldSafety, type GoldItem } from './gold'

/** Gold helpfulness differences below this are a tie: an annotator would not pick reliably. */
export const GOLD_TIE_MARGIN = 0.05

/**
 * 1 when the gold judges prefer `a`, -1 when they prefer `b`, 0 for a tie. A safe answer beats an
 * unsafe one whatever the helpfulness (Llama 2's annotators do the same); otherwise the higher
 * gold helpfulness wins by at least `tieMargin`.
 */
export function goldPreference(item: GoldItem, a: string, b: string, tieMargin = GOLD_TIE_MARGIN): 1 | -1 | 0 {
  const aSafe = goldSafety(item, a) === 'safe'
  const bSafe = goldSafety(item, b) === 'safe'
  if (aSafe !== bSafe) return aSafe ? 1 : -1
  const diff = goldHelpfulness(item, a) - goldHelpfulness(item, b)
  if (Math.abs(diff) < tieMargin) return 0
  return diff > 0 ? 1 : -1
}

/** The answers sampled for one prompt, each with the reward the policy was optimised against. */
export interface RewardedAnswers {
  item: GoldItem
  answers: { answer: string; reward: number }[]
}

/**
 * Over every pair of answers to the same prompt that the gold judges do not call a tie (and the
 * reward does not either): the share the reward orders as gold does. 0.5 is chance; `pairs` is how
 * many pairs it is measured on (agreement is NaN with none).
 */
export function rewardGoldAgreement(prompts: RewardedAnswers[], tieMargin = GOLD_TIE_MARGIN): { agreement: number; pairs: number } {
  let agree = 0
  let pairs = 0
  for (const { item, answers } of prompts) {
    for (let i = 0; i < answers.length; i++) {
      for (let j = i + 1; j < answers.length; j++) {
        const gold = goldPreference(item, answers[i].answer, answers[j].answer, tieMargin)
        const byReward = Math.sign(answers[i].reward - answers[j].reward)
        if (gold === 0 || byReward === 0) continue
        pairs++
        if (gold === byReward) agree++
      }
    }
  }
  return { agreement: pairs === 0 ? NaN : agree / pairs, pairs }
}

/**
 * rewardGoldAgreement per kind of prompt (the gold item's kind: fact, list, creative, ...,
 * adversarial, benign), kinds with at least one counted pair only: where the reward ranks the
 * policy's answers as gold does and where it does not (measured offline on the default demo,
 * seed 7, by the combined reward: adversarial prompts 91%, fact and list questions 49-53%).
 */
export function rewardGoldAgreementByKind(prompts: RewardedAnswers[], tieMargin = GOLD_TIE_MARGIN): Record<string, { agreement: number; pairs: number }> {
  const kinds = new Map<string, RewardedAnswers[]>()
  for (const p of prompts) {
    if (!kinds.has(p.item.kind)) kinds.set(p.item.kind, [])
    kinds.get(p.item.kind)!.push(p)
  }
  const out: Record<string, { agreement: number; pairs: number }> = {}
  for (const [kind, group] of [...kinds.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const measured = rewardGoldAgreement(group, tieMargin)
    if (measured.pairs > 0) out[kind] = measured
  }
  return out
}

/** What best-of-K by the reward selected, against the two baselines it must be read beside. */
export interface SelectionHeadroom {
  /** Mean gold helpfulness of the answer the reward ranks first (the first on a tie, as selectBest). */
  kept: number
  /** Mean gold helpfulness of all K answers: what keeping one at random gives. */
  sampled: number
  /** Mean gold helpfulness of the gold-best of the K answers: what a perfect reward would keep. */
  best_possible: number
  prompts: number
}

/**
 * Gold helpfulness of the reward's pick, of a random pick and of the gold-best pick over the
 * prompts: a reward that helps keeps more than `sampled`; `best_possible` is the ceiling of the
 * K samples. (Measured at tiny: kept 0.155, sampled 0.167, best possible 0.359 with greedy 0.210:
 * the samples hold better answers than greedy; the reward does not find them.) NaNs with no prompt.
 */
export function selectionHeadroom(prompts: RewardedAnswers[]): SelectionHeadroom {
  const rows = prompts.filter((p) => p.answers.length > 0)
  const mean = (f: (p: RewardedAnswers) => number) => (rows.length === 0 ? NaN : rows.reduce((s, p) => s + f(p), 0) / rows.length)
  const golds = (p: RewardedAnswers) => p.answers.map((a) => goldHelpfulness(p.item, a.answer))
  const keptIndex = (p: RewardedAnswers) => p.answers.reduce((best, a, i) => (a.reward > p.answers[best].reward ? i : best), 0)
  return {
    kept: mean((p) => golds(p)[keptIndex(p)]),
    sampled: mean((p) => golds(p).reduce((s, g) => s + g, 0) / p.answers.length),
    best_possible: mean((p) => Math.max(...golds(p))),
    prompts: rows.length,
  }
}
