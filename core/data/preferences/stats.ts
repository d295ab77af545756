// Statistics of a preference dataset, gathered pair by pair while it streams: how many pairs,
// how many user turns their conversations have, how long prompts and answers are (characters,
// and tokens when a tokenizer is given), and the counts of ratings and safety labels.

import { PAIR_SAFETY_LABELS, PREFERENCE_RATINGS, type PreferencePair } from '../preferences'

export interface LengthSummary {
  p10: number
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

export interface PreferenceStats {
  pairs: number
  /** Number of user turns in the conversation -> pairs (1 = single-turn). */
  turns: Record<string, number>
  /** The conversation before the answers (all turns' text), and each answer. */
  chars: { prompt: LengthSummary; chosen: LengthSummary; rejected: LengthSummary }
  tokens?: { prompt: LengthSummary; chosen: LengthSummary; rejected: LengthSummary }
  /** Rating -> pairs; 'none' counts pairs without one. */
  ratings: Record<string, number>
  /** Safety label -> pairs; 'none' counts pairs without one. */
  safety: Record<string, number>
  /** Pairs whose chosen or rejected answer is empty (they exist in real data, e.g. HH-RLHF). */
  emptyAnswers: number
  skipped: number
}

type Side = 'prompt' | 'chosen' | 'rejected'

export class PreferenceStatsBuilder {
  private pairs = 0
  private readonly turns: Record<string, number> = {}
  private readonly chars: Record<Side, number[]> = { prompt: [], chosen: [], rejected: [] }
  private readonly tokens: Record<Side, number[]> = { prompt: [], chosen: [], rejected: [] }
  private readonly ratings: Record<string, number> = Object.fromEntries([...PREFERENCE_RATINGS, 'none'].map((r) => [r, 0]))
  private readonly safety: Record<string, number> = Object.fromEntries([...PAIR_SAFETY_LABELS, 'none'].map((s) => [s, 0]))
  private emptyAnswers = 0

  /** `countTokens` (e.g. a tokenizer's encode(...).length) adds token lengths beside characters. */
  constructor(private readonly countTokens?: (text: string) => number) {}

  add(pair: PreferencePair): void {
    this.pairs++
    const userTurns = pair.messages.filter((m) => m.role === 'user').length
    this.turns[userTurns] = (this.turns[userTurns] ?? 0) + 1
    const texts: Record<Side, string> = { prompt: pair.messages.map((m) => m.content).join('\n'), chosen: pair.chosen, rejected: pair.rejected }
    for (const side of ['prompt', 'chosen', 'rejected'] as const) {
      this.chars[side].push(texts[side].length)
      if (this.countTokens) this.tokens[side].push(this.countTokens(texts[side]))
    }
    this.ratings[pair.rating ?? 'none']++
    this.safety[pair.safety ?? 'none']++
    if (pair.chosen.trim() === '' || pair.rejected.trim() === '') this.emptyAnswers++
  }

  finish(skipped = 0): PreferenceStats {
    const summarise = (lists: Record<Side, number[]>) => ({ prompt: lengthSummary(lists.prompt), chosen: lengthSummary(lists.chosen), rejected: lengthSummary(lists.rejected) })
    return {
      pairs: this.pairs,
      turns: { ...this.turns },
      chars: summarise(this.chars),
      tokens: this.countTokens ? summarise(this.tokens) : undefined,
      ratings: { ...this.ratings },
      safety: { ...this.safety },
      emptyAnswers: this.emptyAnswers,
      skipped,
    }
  }
}

/** Nearest-rank percentiles (a value that occurs in the data). */
export function lengthSummary(values: number[]): LengthSummary {
  if (values.length === 0) return { p10: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 }
  const sorted = Float64Array.from(values).sort()
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
  const mean = values.reduce((a, b) => a + b, 0) / values.length
  return { p10: at(0.1), p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[sorted.length - 1], mean: Math.round(mean * 10) / 10 }
}

/** Human-readable lines for the terminal. */
export function formatPreferenceStats(stats: PreferenceStats): string[] {
  const row = (name: string, s: LengthSummary) => `    ${name.padEnd(9)} p10 ${s.p10}  p50 ${s.p50}  p90 ${s.p90}  p99 ${s.p99}  max ${s.max}  mean ${s.mean}`
  const counts = (c: Record<string, number>) => Object.entries(c).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'
  const lines = [
    `  pairs: ${stats.pairs}`,
    `  user turns per conversation: ${Object.entries(stats.turns).sort((a, b) => Number(a[0]) - Number(b[0])).map(([t, n]) => `${t}: ${n}`).join(', ')}`,
    '  length in characters:',
    row('prompt', stats.chars.prompt),
    row('chosen', stats.chars.chosen),
    row('rejected', stats.chars.rejected),
  ]
  if (stats.tokens) lines.push('  length in tokens:', row('prompt', stats.tokens.prompt), row('chosen', stats.tokens.chosen), row('rejected', stats.tokens.rejected))
  lines.push(`  ratings: ${counts(stats.ratings)}`, `  safety labels: ${counts(stats.safety)}`)
  if (stats.emptyAnswers > 0) lines.push(`  pairs with an empty answer: ${stats.emptyAnswers}`)
  lines.push(`  skipped lines: ${stats.skipped}`)
  return lines
}
