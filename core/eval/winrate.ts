// Win rate of model A against model B on one prompt set, judged by the gold helpfulness judge
// (RECIPE.md section 8: report win / tie / loss). The gold judge is deterministic and sees one
// answer at a time, so the order of the two answers cannot bias it; a learned judge (a reward
// model) plugs in through the same `score` parameter.

import { goldHelpfulness, type GoldItem } from './gold'

export interface WinRate {
  wins: number
  ties: number
  losses: number
  n: number
  /** (wins + ties / 2) / n; 0.5 means no difference. */
  winRate: number
}

export type Scorer = (item: GoldItem, response: string) => number

/**
 * Compares answers pairwise: A wins an item when its score beats B's by more than `tieMargin`,
 * loses when B's beats it by more, and ties otherwise.
 */
export function winRate(items: GoldItem[], answersA: string[], answersB: string[], opts: { tieMargin?: number; score?: Scorer } = {}): WinRate {
  if (answersA.length !== items.length || answersB.length !== items.length) {
    throw new Error(`winRate: ${items.length} items but ${answersA.length} answers from A and ${answersB.length} from B`)
  }
  const margin = opts.tieMargin ?? 0.05
  const score = opts.score ?? goldHelpfulness
  let wins = 0
  let ties = 0
  let losses = 0
  items.forEach((item, i) => {
    const diff = score(item, answersA[i]) - score(item, answersB[i])
    if (diff > margin) wins++
    else if (diff < -margin) losses++
    else ties++
  })
  const n = items.length
  return { wins, ties, losses, n, winRate: n === 0 ? NaN : (wins + ties / 2) / n }
}
