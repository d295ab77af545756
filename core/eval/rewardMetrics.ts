// What a reward model's scores on held-out pairs say: accuracy overall, by rating (Llama 2's
// Table 8 split) and by safety label, the mean margin r_chosen - r_rejected, the mean and spread
// of the scores, and a calibration table (predicted P(chosen wins) = sigmoid(r_c - r_r) in bins
// against how often the favoured answer was the chosen one).
import { PAIR_SAFETY_LABELS, PREFERENCE_RATINGS, type PreferencePair } from '../data/preferences'

export interface CalibrationBin {
  /** Bin range of the confidence max(p, 1 - p), p = sigmoid(r_c - r_r). */
  from: number
  to: number
  pairs: number
  /** Mean confidence in the bin. */
  predicted: number
  /** Share of the bin's pairs the model ranked right (r_c > r_r). */
  observed: number
}

export interface RewardMetrics {
  /** Flat metrics: accuracy, accuracy_<rating>, accuracy_<label>, margin_mean, score_mean, score_std, ... */
  metrics: Record<string, number>
  calibration: CalibrationBin[]
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const std = (xs: number[]) => {
  const m = mean(xs)
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)))
}

/** Accuracy of r_c > r_r (ties count wrong: a constant model must not look like chance + ties). */
export function rewardMetrics(pairs: PreferencePair[], chosen: number[], rejected: number[], bins = 5): RewardMetrics {
  if (pairs.length === 0) throw new Error('rewardMetrics: no pairs')
  const right = pairs.map((_, i) => (chosen[i] > rejected[i] ? 1 : 0))
  const metrics: Record<string, number> = { accuracy: mean(right), pairs: pairs.length }
  const groupAccuracy = (name: string, select: (p: PreferencePair) => boolean) => {
    const picked = right.filter((_, i) => select(pairs[i]))
    if (picked.length > 0) metrics[`accuracy_${name}`] = mean(picked)
  }
  for (const rating of PREFERENCE_RATINGS) groupAccuracy(rating, (p) => p.rating === rating)
  for (const label of PAIR_SAFETY_LABELS) groupAccuracy(label, (p) => p.safety === label)
  const margins = pairs.map((_, i) => chosen[i] - rejected[i])
  metrics.margin_mean = mean(margins)
  metrics.score_mean = mean([...chosen, ...rejected])
  metrics.score_std = std([...chosen, ...rejected])
  metrics.score_chosen_mean = mean(chosen)
  metrics.score_rejected_mean = mean(rejected)
  return { metrics, calibration: calibrationTable(margins, bins) }
}

/**
 * Calibration: each pair's confidence max(p, 1 - p) with p = sigmoid(r_c - r_r), in `bins`
 * equal-width bins over [0.5, 1], against the observed accuracy of the pairs in the bin (how often
 * the answer the model favoured was the chosen one). A calibrated model's rows have
 * observed ~ predicted. (Binning p itself over [0, 1] would be empty of information: every pair
 * with p > 0.5 is right by definition.)
 */
export function calibrationTable(margins: number[], bins: number): CalibrationBin[] {
  const table: CalibrationBin[] = Array.from({ length: bins }, (_, b) => ({ from: 0.5 + b / (2 * bins), to: 0.5 + (b + 1) / (2 * bins), pairs: 0, predicted: 0, observed: 0 }))
  for (const m of margins) {
    const confidence = 1 / (1 + Math.exp(-Math.abs(m)))
    const bin = table[Math.min(bins - 1, Math.floor((confidence - 0.5) * 2 * bins))]
    bin.pairs++
    bin.predicted += confidence
    bin.observed += m > 0 ? 1 : 0
  }
  for (const bin of table) {
    if (bin.pairs > 0) {
      bin.predicted /= bin.pairs
      bin.observed /= bin.pairs
    }
  }
  return table
}

/** Counts of chosen and rejected scores in `bins` equal-width bins over their common range (the run page's histograms). */
export interface ScoreHistogram {
  /** bins + 1 bin edges, ascending. */
  edges: number[]
  chosen: number[]
  rejected: number[]
}

export function scoreHistogram(chosen: number[], rejected: number[], bins = 12): ScoreHistogram {
  const all = [...chosen, ...rejected]
  const lo = Math.min(...all)
  const hi = Math.max(...all)
  const width = hi > lo ? (hi - lo) / bins : 1
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * width)
  const count = (xs: number[]) => {
    const out = new Array<number>(bins).fill(0)
    for (const x of xs) out[Math.min(bins - 1, Math.floor((x - lo) / width))]++
    return out
  }
  return { edges, chosen: count(chosen), rejected: count(rejected) }
}
