// Downsampling that keeps spikes: split the x range into equal buckets and keep, per bucket, the
// lowest and the highest point (plus the very first and last point of the series). A single
// spike therefore always survives, unlike averaging or taking every n-th point.
// Non-finite values count as extremes: NaN and +Infinity win the "highest" slot, -Infinity the
// "lowest", so a diverging run stays visible.

/** Buckets for a series with this many points and this budget (first and last points are extra). */
export function bucketCount(maxPoints: number): number {
  if (!Number.isInteger(maxPoints) || maxPoints < 4) throw new Error(`maxPoints must be an integer >= 4, got ${maxPoints}`)
  return Math.floor((maxPoints - 2) / 2)
}

/**
 * Half-open step ranges [lo, hi) of (nearly) equal width covering first..last inclusive.
 * Steps are integers, so every step falls in exactly one bucket.
 */
export function stepBuckets(first: number, last: number, buckets: number): Array<[number, number]> {
  const span = last - first + 1
  const n = Math.max(1, Math.min(buckets, span))
  const out: Array<[number, number]> = []
  for (let b = 0; b < n; b++) {
    out.push([first + Math.floor((b * span) / n), first + Math.floor(((b + 1) * span) / n)])
  }
  return out
}

/**
 * The order used to pick extremes: NaN ranks like +Infinity, so it wins the "highest" slot
 * and never the "lowest".
 */
export function rank(v: number): number {
  return Number.isNaN(v) ? Infinity : v
}

/**
 * Indices of the points to keep from a series sorted by x (ascending), at most maxPoints.
 * One pass, no allocation per point: suitable for a 1,000,000-point typed array.
 */
export function downsampleMinMax(xs: ArrayLike<number>, ys: ArrayLike<number>, maxPoints: number): number[] {
  const n = xs.length
  if (ys.length !== n) throw new Error(`downsampleMinMax: ${n} x values but ${ys.length} y values`)
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i)
  const buckets = bucketCount(maxPoints)
  const x0 = xs[0]
  const width = (xs[n - 1] - x0) / buckets
  const keep: number[] = [0]
  let bucket = -1
  let lo = -1
  let hi = -1
  const closeBucket = () => {
    if (bucket < 0) return
    const pair = lo === hi ? [lo] : lo < hi ? [lo, hi] : [hi, lo]
    for (const i of pair) if (i !== keep[keep.length - 1] && i !== 0 && i !== n - 1) keep.push(i)
  }
  for (let i = 0; i < n; i++) {
    const b = width > 0 ? Math.min(buckets - 1, Math.floor((xs[i] - x0) / width)) : 0
    if (b !== bucket) {
      closeBucket()
      bucket = b
      lo = i
      hi = i
      continue
    }
    if (rank(ys[i]) > rank(ys[hi])) hi = i
    if (rank(ys[i]) < rank(ys[lo])) lo = i
  }
  closeBucket()
  keep.push(n - 1)
  return keep
}
