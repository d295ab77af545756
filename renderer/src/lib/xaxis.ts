// The x axis of a metric chart: optimiser step, tokens seen, or seconds since the run started.
// Tokens come from the run's own `train/tokens_seen` metric when it logs one (exact), otherwise from
// step x batch_size x seq_len in its config (what a fixed-shape pretraining run processes).

import type { MetricSeries } from '../../../electron/shared/api'

export type XMode = 'step' | 'tokens' | 'time'

export const TOKENS_METRIC = 'train/tokens_seen'

/** Tokens per optimiser step from a config, or null when the config does not say. */
export function tokensPerStep(config: Record<string, unknown>): number | null {
  const batch = numberOf(config.batch_size) ?? numberOf(config.batch)
  const seq = numberOf(config.seq_len) ?? numberOf(config.max_seq_len) ?? numberOf(config.context_length)
  const accum = numberOf(config.grad_accum) ?? numberOf(config.gradient_accumulation_steps) ?? 1
  return batch !== null && seq !== null ? batch * seq * accum : null
}

function numberOf(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}

/** x values for a series; null when the mode cannot be computed for this run. */
export function xValues(
  series: MetricSeries,
  mode: XMode,
  opts: { startTime?: number; tokens?: MetricSeries; tokensPerStep?: number | null },
): number[] | null {
  if (mode === 'step') return series.steps.slice()
  if (mode === 'time') {
    const t0 = opts.startTime ?? series.times[0] ?? 0
    return series.times.map((t) => (t - t0) / 1000)
  }
  if (opts.tokens && opts.tokens.steps.length > 0) return series.steps.map((s) => tokensAtStep(opts.tokens!, s))
  if (opts.tokensPerStep) return series.steps.map((s) => s * opts.tokensPerStep!)
  return null
}

/** The logged token count at a step (the last logged value at or before it). */
function tokensAtStep(tokens: MetricSeries, step: number): number {
  let lo = 0
  let hi = tokens.steps.length - 1
  let best = 0
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (tokens.steps[mid] <= step) {
      best = tokens.values[mid] ?? best
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return best
}

export const X_LABELS: Record<XMode, string> = { step: 'step', tokens: 'tokens', time: 'seconds' }
