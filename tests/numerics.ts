// How far two arrays of numbers are apart, for tests that compare against a reference
// (PyTorch, another backend, a recomputed gradient).

/** The largest absolute difference, over the largest magnitude of `b` (the reference). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return diff / Math.max(scale, 1e-12)
}

/** The largest absolute difference between a[i] and b[i]. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]))
  return worst
}
