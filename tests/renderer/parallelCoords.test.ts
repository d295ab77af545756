import { describe, it, expect } from 'vitest'
import { axisPosition, axisTicks, buildAxis, lineSegments, metricColor, MISSING_COLOR, parallelData, varyingKeys } from '../../renderer/src/lib/parallelCoords'
import { faint, rawAndSmoothed } from '../../renderer/src/lib/chartLines'

describe('parallel coordinates: axes', () => {
  it('scales numbers linearly between their min and max, NaN and missing values unplaced', () => {
    const axis = buildAxis('dim', [32, 64, 48, NaN, undefined, null])
    expect(axis).toEqual({ key: 'dim', kind: 'numeric', min: 32, max: 64, log: false })
    expect(axisPosition(axis, 32)).toBe(0)
    expect(axisPosition(axis, 48)).toBe(0.5)
    expect(axisPosition(axis, 64)).toBe(1)
    expect(axisPosition(axis, NaN)).toBeNull()
    expect(axisPosition(axis, undefined)).toBeNull()
    expect(axisPosition(axis, 'x')).toBeNull()
    expect(axisTicks(axis).map((t) => t.label)).toEqual(['32', '40', '48', '56', '64'])
  })

  it('uses a log axis for positive values spanning two decades (a learning-rate sweep)', () => {
    const axis = buildAxis('lr', [1e-4, 1e-3, 1e-2])
    expect(axis).toMatchObject({ kind: 'numeric', log: true })
    expect(axisPosition(axis, 1e-3)).toBeCloseTo(0.5, 10)
    expect(axisTicks(axis).map((t) => t.label)).toEqual(['1.00e-4', '3.16e-4', '0.001', '0.00316', '0.01'])
    expect(buildAxis('x', [-1, 1, 1000])).toMatchObject({ log: false })
  })

  it('spreads text values evenly as categories, sorted with numbers in order', () => {
    const axis = buildAxis('schedule', ['linear', 'cosine', 'constant', 'cosine'])
    expect(axis).toEqual({ key: 'schedule', kind: 'categorical', categories: ['constant', 'cosine', 'linear'] })
    expect(axisPosition(axis, 'cosine')).toBe(0.5)
    expect(axisPosition(axis, 'linear')).toBe(1)
    expect(axisPosition(axis, 'other')).toBeNull()
    expect(axisTicks(axis)).toEqual([
      { position: 0, label: 'constant' },
      { position: 0.5, label: 'cosine' },
      { position: 1, label: 'linear' },
    ])
    // Numbers mixed with text are categories; booleans too.
    expect(buildAxis('m', [2, 'auto', 10])).toEqual({ key: 'm', kind: 'categorical', categories: ['2', '10', 'auto'] })
    expect(buildAxis('b', [true, false])).toMatchObject({ kind: 'categorical', categories: ['false', 'true'] })
  })

  it('draws a constant axis in the middle with its one value, and survives no values at all', () => {
    const constant = buildAxis('dim', [32, 32, undefined])
    expect(constant).toEqual({ key: 'dim', kind: 'constant', label: '32' })
    expect(axisPosition(constant, 32)).toBe(0.5)
    expect(axisPosition(constant, undefined)).toBeNull()
    expect(axisTicks(constant)).toEqual([{ position: 0.5, label: '32' }])
    const empty = buildAxis('gone', [NaN, null])
    expect(empty).toEqual({ key: 'gone', kind: 'constant', label: '—' })
    expect(axisPosition(empty, NaN)).toBeNull()
    expect(buildAxis('s', ['a', 'a']).kind).toBe('constant')
  })
})

describe('parallel coordinates: runs as lines', () => {
  const runs = [
    { id: 'a', name: 'lr-small', config: { lr: 1e-4, dim: 32, model: { schedule: 'cosine' } }, latest: { 'eval/loss': 3.5 } },
    { id: 'b', name: 'lr-mid', config: { lr: 1e-3, dim: 32, model: { schedule: 'linear' } }, latest: { 'eval/loss': 3.0 } },
    { id: 'c', name: 'lr-big', config: { lr: 1e-2, dim: 32 }, latest: { 'eval/loss': null } },
  ]

  it('finds the config keys that vary, a missing key counting as a value', () => {
    expect(varyingKeys(runs.map((r) => r.config))).toEqual(['lr', 'model.schedule'])
    expect(varyingKeys([{ a: 1 }, { a: 1 }])).toEqual([])
  })

  it('places each run on each axis, the metric last, coloured best = yellow, NaN grey and unplaced', () => {
    const data = parallelData(runs, ['lr', 'model.schedule'], 'eval/loss', true)
    expect(data.axes.map((a) => `${a.key}:${a.kind}`)).toEqual(['lr:numeric', 'model.schedule:categorical', 'eval/loss:numeric'])
    expect(data.metricRange).toEqual({ min: 3, max: 3.5 })
    const [a, b, c] = data.lines
    expect(a.positions.map((p) => (p === null ? null : Number(p.toFixed(3))))).toEqual([0, 0, 1])
    expect(b.positions.map((p) => (p === null ? null : Number(p.toFixed(3))))).toEqual([0.5, 1, 0])
    expect(c.positions).toEqual([1, null, null])
    expect(b.color).toBe(metricColor(1)) // the lowest loss is the best
    expect(a.color).toBe(metricColor(0))
    expect(c.color).toBe(MISSING_COLOR)
    expect(a.values).toEqual(['1.00e-4', 'cosine', '3.5'])
    expect(c.values).toEqual(['0.01', '—', '—'])
  })

  it('colours higher-is-better metrics the other way round, and a constant metric in the middle', () => {
    const acc = [
      { id: 'x', name: 'x', config: { k: 1 }, latest: { acc: 0.9 } },
      { id: 'y', name: 'y', config: { k: 2 }, latest: { acc: 0.1 } },
    ]
    const data = parallelData(acc, ['k'], 'acc', false)
    expect(data.lines[0].color).toBe(metricColor(1))
    const same = parallelData(acc.map((r) => ({ ...r, latest: { acc: 0.5 } })), ['k'], 'acc', false)
    expect(same.axes[1].kind).toBe('constant')
    expect(same.lines[0].color).toBe(metricColor(0.5))
    expect(same.lines[0].positions).toEqual([0, 0.5])
    expect(parallelData(acc, ['k'], null, true).axes).toHaveLength(1)
  })

  it('breaks a line where a value is missing', () => {
    expect(lineSegments([0, 0.5, null, 1, 0.2, null, 0.3])).toEqual([[0, 1], [3, 4], [6]])
    expect(lineSegments([null, null])).toEqual([])
    expect(metricColor(0)).toBe('rgb(68, 1, 84)')
    expect(metricColor(1)).toBe('rgb(253, 231, 37)')
    expect(metricColor(NaN)).toBe(MISSING_COLOR)
  })
})

describe('chart lines', () => {
  it('keeps the raw values as their own series next to the smoothed line, so the legend reads the logged value', () => {
    const lines = rawAndSmoothed({ label: 'run-a', x: [1, 2, 3], y: [3.5, 3.2, 3.165], color: '#2563eb', smoothing: 0.6 })
    expect(lines.map((l) => l.label)).toEqual(['run-a', 'run-a (smoothed)'])
    expect(lines[0].y).toEqual([3.5, 3.2, 3.165])
    expect(lines[0]).toMatchObject({ color: '#2563eb', faint: true })
    expect(lines[1].derived).toBe(true)
    expect(lines[1].y[2]).not.toBeCloseTo(3.165, 3)
    const raw = rawAndSmoothed({ label: 'run-a', x: [1], y: [2], color: '#2563eb', smoothing: 0 })
    expect(raw).toEqual([{ label: 'run-a', x: [1], y: [2], color: '#2563eb' }])
    expect(faint('#dc2626', 0.5)).toBe('rgba(220, 38, 38, 0.5)')
  })
})
