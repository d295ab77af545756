// TensorBoard's smoothing: an exponential moving average, debiased so the first points are not
// dragged towards zero. weight 0 = raw values, 0.99 = very smooth. Gaps (null) stay gaps and do
// not reset the average.

export function emaSmooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values.slice()
  const w = Math.min(weight, 0.999)
  let last = 0
  let count = 0
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return null
    last = last * w + (1 - w) * v
    count += 1
    const debias = 1 - Math.pow(w, count)
    return last / debias
  })
}
