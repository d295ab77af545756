// Pure helpers for comparing runs: flattened config differences and which direction of a metric
// counts as "best".

import type { ConfigDifference } from './types'

/** { model: { dim: 64 }, lr: 1e-3 } -> { 'model.dim': 64, lr: 0.001 }. Arrays stay whole values. */
export function flattenConfig(config: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(config)) {
    const dotted = prefix ? `${prefix}.${key}` : key
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      Object.assign(out, flattenConfig(value as Record<string, unknown>, dotted))
    } else {
      out[dotted] = value
    }
  }
  return out
}

/** The flattened keys whose values are not all the same (a key missing in one run differs). */
export function diffConfigs(configs: Record<string, unknown>[]): ConfigDifference[] {
  const flat = configs.map((c) => flattenConfig(c))
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort()
  const diffs: ConfigDifference[] = []
  for (const key of keys) {
    const values = flat.map((f) => (Object.prototype.hasOwnProperty.call(f, key) ? f[key] : undefined))
    const texts = values.map((v) => (v === undefined ? '\u0000missing' : JSON.stringify(v)))
    if (new Set(texts).size > 1) diffs.push({ key, values })
  }
  return diffs
}

const LOWER_IS_BETTER = /(loss|perplexity|ppl|nll|error|bpb|bits_per_byte)/i
const HIGHER_IS_BETTER = /(acc|accuracy|reward|win_rate|winrate|score|f1|bleu|rouge|exact_match|helpful)/i

/** 'min' for loss-like metric keys, 'max' for accuracy-like ones, null when the name does not say. */
export function metricDirection(key: string): 'min' | 'max' | null {
  const name = key.slice(key.lastIndexOf('/') + 1)
  if (LOWER_IS_BETTER.test(name)) return 'min'
  if (HIGHER_IS_BETTER.test(name)) return 'max'
  return null
}
