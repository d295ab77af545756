// A small seeded PRNG (mulberry32) shared by weight init and sampling, so that a seed gives the
// same weights and the same samples on every backend and every run (tf.random* and Math.random
// do not promise that).

/** Returns a function giving uniform floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** `count` normal samples with mean 0 and standard deviation `std` (Box-Muller). */
export function normalArray(count: number, std: number, rand: () => number): Float32Array {
  const out = new Float32Array(count)
  for (let i = 0; i < count; i += 2) {
    const u1 = 1 - rand() // in (0, 1], so log is finite
    const u2 = rand()
    const r = Math.sqrt(-2 * Math.log(u1)) * std
    out[i] = r * Math.cos(2 * Math.PI * u2)
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * u2)
  }
  return out
}
