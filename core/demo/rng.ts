// A tiny seeded pseudo-random generator (mulberry32) so the demo world is the same on every
// machine and every run for a given seed. Math.random is never used in core/demo.

import { mulberry32 } from '../util/random'

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number
  /** Uniform integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T
  /** A new array with the items in random order (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[]
  /** True with probability p. */
  chance(p: number): boolean
}

export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`createRng: seed must be a finite number, got ${seed}`)
  const next = mulberry32(seed)
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1))
  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new Error('Rng.pick: empty array')
    return items[int(0, items.length - 1)]
  }
  const shuffle = <T>(items: readonly T[]): T[] => {
    const out = items.slice()
    for (let i = out.length - 1; i > 0; i--) {
      const j = int(0, i)
      ;[out[i], out[j]] = [out[j], out[i]]
    }
    return out
  }
  return { next, int, pick, shuffle, chance: (p) => next() < p }
}

/** A derived seed for one part of the generation, so adding a part does not shift the others. */
export function subSeed(seed: number, part: string): number {
  let h = (seed ^ 0x9e3779b9) >>> 0
  for (let i = 0; i < part.length; i++) h = Math.imul(h ^ part.charCodeAt(i), 0x01000193) >>> 0
  return h
}
