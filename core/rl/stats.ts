// Masked statistics over per-token rows (plain arrays: the rollout's bookkeeping, no gradients).
// A row is one sequence's per-token values; the mask says which positions are response tokens
// (1) and which are prompt or padding (0). These match TRL's core utilities (trl/core.py,
// trl/trainer/utils.py): masked_mean, masked_var (unbiased, Bessel-corrected) and masked_whiten.

export type Rows = number[][]

function checkSameShape(values: Rows, mask: Rows): void {
  if (values.length !== mask.length) throw new Error(`masked statistics: ${values.length} value rows for ${mask.length} mask rows`)
  values.forEach((row, b) => {
    if (row.length !== mask[b].length) throw new Error(`masked statistics: row ${b} has ${row.length} values for ${mask[b].length} mask entries`)
  })
}

/** Sum of values where mask is 1, divided by the number of such positions (NaN when there are none). */
export function maskedMean(values: Rows, mask: Rows): number {
  checkSameShape(values, mask)
  let sum = 0
  let count = 0
  values.forEach((row, b) => row.forEach((x, t) => {
    if (mask[b][t]) {
      sum += x
      count++
    }
  }))
  return sum / count
}

/**
 * Variance of the masked values. Unbiased (divides by n - 1) by default, as TRL's masked_var;
 * throws when that needs two values and there are fewer.
 */
export function maskedVar(values: Rows, mask: Rows, unbiased = true): number {
  const mean = maskedMean(values, mask)
  const centred = values.map((row) => row.map((x) => (x - mean) ** 2))
  const count = mask.reduce((n, row) => n + row.reduce((a, m) => a + (m ? 1 : 0), 0), 0)
  const variance = maskedMean(centred, mask)
  if (!unbiased) return variance
  if (count < 2) throw new Error(`maskedVar: the unbiased variance needs at least 2 masked values, got ${count}`)
  return (variance * count) / (count - 1)
}

export interface WhitenOptions {
  /** Keep the mean at 0 (true, the default) or add the original mean back (TRL's shift_mean=False). */
  shiftMean?: boolean
}

/**
 * (x - mean) / sqrt(var + 1e-8) over the masked positions; masked-out positions come back as 0.
 * With shiftMean false, the mean is added back (only the scale changes), as TRL does for rewards.
 */
export function maskedWhiten(values: Rows, mask: Rows, opts: WhitenOptions = {}): Rows {
  const mean = maskedMean(values, mask)
  const scale = 1 / Math.sqrt(maskedVar(values, mask) + 1e-8)
  const shift = opts.shiftMean ?? true
  return values.map((row, b) => row.map((x, t) => (mask[b][t] ? (x - mean) * scale + (shift ? 0 : mean) : 0)))
}

export interface WhitenScalarOptions extends WhitenOptions {
  /** After whitening, clip to [-clip, clip] (absent or 0: no clipping). */
  clip?: number
}

/**
 * Whitens one value per sequence over the batch (the combined reward, section 3.2.3 of the Llama 2
 * paper). Unbiased variance, as maskedWhiten; a batch of one is only centred (there is no spread
 * to divide by).
 */
export function whiten(values: number[], opts: WhitenScalarOptions = {}): number[] {
  if (values.length === 0) return []
  const ones = [values.map(() => 1)]
  const out = values.length === 1 ? [values.map((x) => (opts.shiftMean === false ? x : 0))] : maskedWhiten([values], ones, opts)
  const clip = opts.clip ?? 0
  if (clip < 0) throw new Error(`whiten: clip must be >= 0, got ${clip}`)
  return out[0].map((x) => (clip > 0 ? Math.min(clip, Math.max(-clip, x)) : x))
}
