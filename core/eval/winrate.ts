// Win rate of model A against model B on one prompt set (RECIPE.md section 8: report win / tie /
// loss). Pure functions: the per-prompt outcome, the tally, bootstrap intervals, the
// length-controlled win rate (as length-controlled AlpacaEval: judges, reward models and people
// all favour longer answers, so the length effect is regressed out) and how often a verdict flips
// when the two answers swap places. The `winrate` stage (core/train/stages/winrate.ts) generates
// the answers and feeds these.

import { mulberry32 } from '../util/random'
import { goldHelpfulness, type GoldItem } from './gold'

/** One prompt's verdict from A's side: 1 = A wins, 0.5 = tie, 0 = A loses. */
export type Outcome = 0 | 0.5 | 1

export interface WinRate {
  wins: number
  ties: number
  losses: number
  n: number
  /** (wins + ties / 2) / n; 0.5 means no difference. */
  winRate: number
}

export type Scorer = (item: GoldItem, response: string) => number

/** A wins when its score beats B's by more than `tieMargin`, loses when B's beats it by more, else a tie. */
export function outcomeOf(scoreA: number, scoreB: number, tieMargin: number): Outcome {
  const diff = scoreA - scoreB
  if (diff > tieMargin) return 1
  if (diff < -tieMargin) return 0
  return 0.5
}

/** Counts and win rate of a list of outcomes. */
export function tally(outcomes: Outcome[]): WinRate {
  const wins = outcomes.filter((o) => o === 1).length
  const ties = outcomes.filter((o) => o === 0.5).length
  const losses = outcomes.length - wins - ties
  const n = outcomes.length
  return { wins, ties, losses, n, winRate: n === 0 ? NaN : (wins + ties / 2) / n }
}

/** Compares answers pairwise with a pointwise scorer (the gold helpfulness judge by default). */
export function winRate(items: GoldItem[], answersA: string[], answersB: string[], opts: { tieMargin?: number; score?: Scorer } = {}): WinRate {
  if (answersA.length !== items.length || answersB.length !== items.length) {
    throw new Error(`winRate: ${items.length} items but ${answersA.length} answers from A and ${answersB.length} from B`)
  }
  const margin = opts.tieMargin ?? 0.05
  const score = opts.score ?? goldHelpfulness
  return tally(items.map((item, i) => outcomeOf(score(item, answersA[i]), score(item, answersB[i]), margin)))
}

// ---------------------------------------------------------------------------------------------
// Order effects

/**
 * The share of prompts whose verdict changes when the two answers swap places. `firstOrder[i]` is
 * the verdict (from A's side) with A shown first, `swappedOrder[i]` the verdict (from A's side)
 * with B shown first. A judge without position bias gives 0.
 */
export function swapFlipRate(firstOrder: Outcome[], swappedOrder: Outcome[]): number {
  if (firstOrder.length !== swappedOrder.length) throw new Error(`swapFlipRate: ${firstOrder.length} verdicts in one order but ${swappedOrder.length} in the other`)
  if (firstOrder.length === 0) return NaN
  return firstOrder.filter((o, i) => o !== swappedOrder[i]).length / firstOrder.length
}

// ---------------------------------------------------------------------------------------------
// Length control

export interface LogisticFit {
  intercept: number
  slope: number
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z))

/**
 * Logistic regression of y (in [0, 1]; a tie counts 0.5) on one feature x, fitted by Newton's
 * method on the log-likelihood with a small ridge penalty `ridge` (so an all-wins set, where the
 * plain fit runs off to infinity, still ends at a finite, near-1 win rate).
 */
export function fitLogistic(x: number[], y: number[], ridge = 1e-3): LogisticFit {
  if (x.length !== y.length) throw new Error(`fitLogistic: ${x.length} features but ${y.length} outcomes`)
  let a = 0
  let b = 0
  for (let iter = 0; iter < 100; iter++) {
    // Gradient and Hessian of -loglik + ridge/2 (a^2 + b^2).
    let ga = ridge * a
    let gb = ridge * b
    let haa = ridge
    let hab = 0
    let hbb = ridge
    for (let i = 0; i < x.length; i++) {
      const p = sigmoid(a + b * x[i])
      const w = p * (1 - p)
      ga += p - y[i]
      gb += (p - y[i]) * x[i]
      haa += w
      hab += w * x[i]
      hbb += w * x[i] * x[i]
    }
    const det = haa * hbb - hab * hab
    const da = (hbb * ga - hab * gb) / det
    const db = (haa * gb - hab * ga) / det
    a -= da
    b -= db
    if (Math.abs(da) + Math.abs(db) < 1e-10) break
  }
  return { intercept: a, slope: b }
}

/**
 * The length-controlled win rate: regress each prompt's outcome on the length difference of the
 * two answers (A minus B, scaled by its standard deviation so the ridge means the same on any
 * scale) and read the fitted win probability at a length difference of zero.
 */
export function lengthControlledWinRate(outcomes: Outcome[], lengthDiffs: number[]): number {
  if (outcomes.length !== lengthDiffs.length) throw new Error(`lengthControlledWinRate: ${outcomes.length} outcomes but ${lengthDiffs.length} length differences`)
  if (outcomes.length === 0) return NaN
  const mean = lengthDiffs.reduce((s, d) => s + d, 0) / lengthDiffs.length
  const std = Math.sqrt(lengthDiffs.reduce((s, d) => s + (d - mean) ** 2, 0) / lengthDiffs.length)
  const x = lengthDiffs.map((d) => (std > 0 ? d / std : 0))
  return sigmoid(fitLogistic(x, outcomes).intercept)
}

// ---------------------------------------------------------------------------------------------
// Bootstrap intervals

export interface Interval {
  value: number
  lo: number
  hi: number
}

/** The value of `stat` on the data and its percentile bootstrap interval (prompts resampled with replacement; seeded). */
export function bootstrapInterval<T>(rows: T[], stat: (rows: T[]) => number, opts: { seed: number; reps?: number; level?: number }): Interval {
  const reps = opts.reps ?? 1000
  const level = opts.level ?? 0.95
  const rand = mulberry32(opts.seed)
  const values: number[] = []
  for (let r = 0; r < reps; r++) {
    const sample = rows.map(() => rows[Math.floor(rand() * rows.length)])
    const v = stat(sample)
    if (Number.isFinite(v)) values.push(v)
  }
  values.sort((p, q) => p - q)
  const at = (q: number) => (values.length === 0 ? NaN : values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))])
  return { value: stat(rows), lo: at((1 - level) / 2), hi: at(1 - (1 - level) / 2) }
}

export interface WinRateFigures {
  counts: WinRate
  win: Interval
  tie: Interval
  loss: Interval
  /** Raw win rate (ties half). */
  winRate: Interval
  /** Win rate at zero length difference. */
  lcWin: Interval
}

/** Every figure of a win-rate comparison with its bootstrap 95% interval. */
export function winRateFigures(outcomes: Outcome[], lengthDiffs: number[], opts: { seed: number; reps?: number }): WinRateFigures {
  const rows = outcomes.map((o, i) => ({ o, d: lengthDiffs[i] }))
  const share = (v: Outcome) => (rs: typeof rows) => rs.filter((r) => r.o === v).length / rs.length
  return {
    counts: tally(outcomes),
    win: bootstrapInterval(rows, share(1), opts),
    tie: bootstrapInterval(rows, share(0.5), opts),
    loss: bootstrapInterval(rows, share(0), opts),
    winRate: bootstrapInterval(rows, (rs) => tally(rs.map((r) => r.o)).winRate, opts),
    lcWin: bootstrapInterval(rows, (rs) => lengthControlledWinRate(rs.map((r) => r.o), rs.map((r) => r.d)), opts),
  }
}

// ---------------------------------------------------------------------------------------------
// People's verdicts

/**
 * The seven-point scale of the paper's human evaluation, from the left answer's side: 3 = left much
 * better, 2 = better, 1 = slightly better, 0 = tie, -1 .. -3 the same for the right answer.
 */
export type SevenPoint = -3 | -2 | -1 | 0 | 1 | 2 | 3

/** A person's verdict as A's outcome: which side A was shown on decides the sign. */
export function humanOutcome(rating: SevenPoint, aOnLeft: boolean): Outcome {
  const forA = aOnLeft ? rating : -rating
  return forA > 0 ? 1 : forA < 0 ? 0 : 0.5
}
