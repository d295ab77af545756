import { describe, it, expect } from 'vitest'
import { canUseLogScale, chartTable, tickLabels } from '../../renderer/src/lib/chartData'

describe('chart data', () => {
  it('labels the ticks a log axis leaves blank (uPlot hands null) instead of throwing', () => {
    // uPlot's log axis filter turns 2..9 between decades into null; the old labeller called
    // null.toExponential and blanked the chart ("Cannot read properties of null").
    expect(tickLabels([0.01, null, null, 0.1, null, 1])).toEqual(['0.01', '', '', '0.1', '', '1'])
    expect(tickLabels([NaN, Infinity, 0, 6e-5, 12345])).toEqual(['', '', '0', '6.0e-5', '12,345'])
  })

  it('drops what a log axis cannot place: zeros, negatives, NaN, infinities', () => {
    const table = chartTable([{ x: [0, 1, 2, 3, 4], y: [0, -1, NaN, Infinity, 2] }], true)
    expect(table).toEqual([[0, 1, 2, 3, 4], [null, null, null, null, 2]])
  })

  it('keeps zeros and negatives on a linear axis, NaN as a gap', () => {
    const table = chartTable([{ x: [0, 1, 2], y: [0, -1, NaN] }], false)
    expect(table).toEqual([[0, 1, 2], [0, -1, null]])
  })

  it('falls back to linear when no value is positive, and handles one point and no series', () => {
    expect(canUseLogScale([{ x: [0, 1], y: [0, -2] }])).toBe(false)
    expect(canUseLogScale([{ x: [0], y: [NaN] }])).toBe(false)
    expect(canUseLogScale([{ x: [5], y: [0.3] }])).toBe(true)
    expect(chartTable([{ x: [5], y: [0.3] }], true)).toEqual([[5], [0.3]])
    expect(chartTable([], true)).toEqual([[]])
  })

  it('aligns several series on a shared x axis', () => {
    const table = chartTable([{ x: [0, 2], y: [1, 2] }, { x: [1, 2], y: [3, -4] }], true)
    // uPlot.join marks "no point at this x" as undefined, a dropped value as null.
    expect(table).toEqual([[0, 1, 2], [1, undefined, 2], [undefined, 3, null]])
  })
})
