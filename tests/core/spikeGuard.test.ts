import { describe, it, expect } from 'vitest'
import { SpikeGuard } from '../../core/train/spikeGuard'

/** A deterministic noisy, slowly falling loss curve: 4.0 -> about 3.0 with +-0.05 wiggle. */
function curve(n: number, start = 0): number[] {
  return Array.from({ length: n }, (_, i) => 4 - (i + start) * 0.005 + 0.05 * Math.sin((i + start) * 1.7))
}

function feed(guard: SpikeGuard, losses: number[]): void {
  for (const loss of losses) expect(guard.check(loss, 1).skip).toBe(false)
}

describe('SpikeGuard', () => {
  it('accepts an ordinary noisy, falling curve', () => {
    const guard = new SpikeGuard()
    feed(guard, curve(200))
    expect(guard.stats.totalSkips).toBe(0)
    expect(guard.stats.mean).toBeGreaterThan(2.9)
    expect(guard.stats.mean).toBeLessThan(3.2)
  })

  it('skips a spike far above the running statistics, and the spike does not move them', () => {
    const guard = new SpikeGuard({ warmup: 20 })
    feed(guard, curve(50))
    const before = guard.getState()
    const result = guard.check(9.5, 1)
    expect(result.skip).toBe(true)
    expect(result.stop).toBeUndefined()
    expect(result.reason).toMatch(/^loss spike: 9\.5 > mean 3\.\d+ \+ 5 x std 0\.\d+ and > 1\.3 x mean$/)
    expect(guard.getState()).toEqual({ ...before, consecutiveSkips: 1, totalSkips: 1 })
    // the next normal batch is accepted and resets the run of skips
    expect(guard.check(3.74, 1).skip).toBe(false)
    expect(guard.getState().consecutiveSkips).toBe(0)
  })

  it('does not judge spikes during warm-up (the early loss falls fast and jumps)', () => {
    const guard = new SpikeGuard({ warmup: 5 })
    for (const loss of [10, 30, 8, 6, 5]) expect(guard.check(loss).skip).toBe(false) // 30: a jump, accepted
    expect(guard.check(100).skip).toBe(true)
  })

  it('needs both conditions: a big z-score on a very steady loss is not a spike if the loss is not ratio x mean', () => {
    const guard = new SpikeGuard({ warmup: 5 })
    feed(guard, Array(30).fill(2))
    expect(guard.check(2.2).skip).toBe(false) // z-score infinite, but only 1.1 x mean
    expect(guard.check(2.9).skip).toBe(true) // 1.45 x mean, z-score large
  })

  it('always skips a non-finite loss or gradient norm, even during warm-up', () => {
    const guard = new SpikeGuard()
    expect(guard.check(NaN, 1)).toEqual({ skip: true, reason: 'non-finite loss (NaN)' })
    expect(guard.check(Infinity)).toEqual({ skip: true, reason: 'non-finite loss (Infinity)' })
    expect(guard.check(3, NaN)).toEqual({ skip: true, reason: 'non-finite gradient norm (NaN)' })
    expect(guard.stats.accepted).toBe(0)
  })

  it('signals stop after maxConsecutive bad batches in a row, with the count and the last reason', () => {
    const guard = new SpikeGuard({ warmup: 10, maxConsecutive: 3 })
    feed(guard, curve(30))
    expect(guard.check(50).stop).toBeUndefined()
    expect(guard.check(NaN).stop).toBeUndefined()
    const third = guard.check(60)
    expect(third.skip).toBe(true)
    expect(third.stop).toBe(true)
    expect(third.stopReason).toMatch(/^stopping: 3 bad batches in a row \(last: loss spike: 60 > mean/)
    expect(guard.getState().totalSkips).toBe(3)
  })

  it('resumes from saved state exactly as if never interrupted', () => {
    const losses = [...curve(40), 20, ...curve(40, 40), NaN, ...curve(20, 80)]
    const straight = new SpikeGuard({ warmup: 10 })
    const straightResults = losses.map((l) => straight.check(l, 1))

    const first = new SpikeGuard({ warmup: 10 })
    const firstResults = losses.slice(0, 50).map((l) => first.check(l, 1))
    const saved = JSON.parse(JSON.stringify(first.getState()))
    const resumed = new SpikeGuard({ warmup: 10 }, saved)
    const resumedResults = losses.slice(50).map((l) => resumed.check(l, 1))

    expect([...firstResults, ...resumedResults]).toEqual(straightResults)
    expect(resumed.getState()).toEqual(straight.getState())
    expect(straight.getState().totalSkips).toBe(2)
  })

  it('rejects bad options and bad state with the field name', () => {
    expect(() => new SpikeGuard({ emaBeta: 1 })).toThrow(/emaBeta must be between 0 and 1/)
    expect(() => new SpikeGuard({ maxConsecutive: 0 })).toThrow(/maxConsecutive must be an integer >= 1/)
    expect(() => new SpikeGuard({ ratio: 0.5 })).toThrow(/ratio must be >= 1/)
    expect(() => new SpikeGuard({}, { mean: 1, variance: 0, accepted: 3, consecutiveSkips: 0 } as never)).toThrow(
      /spike guard state: "totalSkips" must be a finite number, got undefined/,
    )
  })
})
