import { describe, it, expect } from 'vitest'
import { lrAt } from '../../core/train/schedule'

const base = { peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1 }

describe('lrAt', () => {
  it('warms up linearly and reaches the peak on the last warmup update', () => {
    expect(lrAt(0, base)).toBeCloseTo(1e-4, 12)
    expect(lrAt(4, base)).toBeCloseTo(5e-4, 12)
    expect(lrAt(9, base)).toBeCloseTo(1e-3, 12)
  })

  it('decays along a half cosine to minRatio * peak on the last update, and stays there', () => {
    expect(lrAt(10, base)).toBeCloseTo(1e-3, 12) // first decay update: still the peak
    // 100 decay updates (10..109): progress = (step - 10) / 99. Steps 59 and 60 sit symmetrically
    // around the cosine's midpoint, so their mean is exactly halfway between peak and floor.
    const mid = (lrAt(59, base) + lrAt(60, base)) / 2
    expect(mid).toBeCloseTo(0.55e-3, 12)
    // progress 33/99 = 1/3: floor + (peak - floor) * 0.5 * (1 + cos(pi/3)) = 1e-4 + 0.9e-3 * 0.75
    expect(lrAt(43, base)).toBeCloseTo(1e-4 + 0.9e-3 * 0.75, 12)
    expect(lrAt(109, base)).toBeCloseTo(1e-4, 12)
    expect(lrAt(500, base)).toBeCloseTo(1e-4, 12)
  })

  it('is monotone: up during warmup, down after', () => {
    for (let s = 1; s < 110; s++) {
      if (s < 10) expect(lrAt(s, base)).toBeGreaterThan(lrAt(s - 1, base))
      else if (s > 10) expect(lrAt(s, base)).toBeLessThan(lrAt(s - 1, base))
    }
  })

  it('supports linear decay and a constant rate', () => {
    const linear = { ...base, kind: 'linear' as const }
    expect(lrAt(10, linear)).toBeCloseTo(1e-3, 12)
    expect(lrAt(43, linear)).toBeCloseTo(1e-3 - 0.9e-3 * (33 / 99), 12)
    expect(lrAt(109, linear)).toBeCloseTo(1e-4, 12)
    const constant = { peak: 1e-6, warmupSteps: 0, totalSteps: 5, kind: 'constant' as const }
    expect([0, 1, 4, 9].map((s) => lrAt(s, constant))).toEqual([1e-6, 1e-6, 1e-6, 1e-6])
  })

  it('defaults to cosine with minRatio 0.1, and handles no warmup and one-step runs', () => {
    const noWarmup = { peak: 2, warmupSteps: 0, totalSteps: 3 }
    expect([0, 1, 2].map((s) => lrAt(s, noWarmup))).toEqual([2, 1.1, 0.2].map((x) => expect.closeTo(x, 12)))
    expect(lrAt(0, { peak: 2, warmupSteps: 0, totalSteps: 1 })).toBeCloseTo(0.2, 12)
  })

  it('rejects bad options with the name of the option', () => {
    expect(() => lrAt(0, { ...base, peak: NaN })).toThrow(/peak learning rate/)
    expect(() => lrAt(0, { ...base, warmupSteps: 200 })).toThrow(/warmupSteps \(200\) is larger than totalSteps \(110\)/)
    expect(() => lrAt(0, { ...base, totalSteps: 0, warmupSteps: 0 })).toThrow(/totalSteps must be an integer >= 1/)
    expect(() => lrAt(0, { ...base, minRatio: 2 })).toThrow(/minRatio must be between 0 and 1/)
    expect(() => lrAt(0, { ...base, kind: 'step' as never })).toThrow(/kind must be cosine, linear or constant/)
    expect(() => lrAt(-1, base)).toThrow(/step must be an integer >= 0/)
  })
})
