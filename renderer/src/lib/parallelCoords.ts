// Parallel coordinates for a sweep (W&B's view): one vertical axis per config key that varies
// among the runs, the chosen final metric as the last axis, one line per run coloured by that
// metric. Everything here is data (positions 0 = bottom .. 1 = top, tick labels, colours), so the
// SVG component only draws, and every awkward case (text values, a constant axis, NaN, a run
// without the key) is tested without a browser.
import { configPaths, configValue, type ConfigValue } from './configPaths'
import { formatNumber } from './format'

export type AxisInput = ConfigValue | undefined

export type Axis =
  | { key: string; kind: 'numeric'; min: number; max: number; log: boolean }
  | { key: string; kind: 'categorical'; categories: string[] }
  /** Every run that has a value has the same one: drawn in the middle. */
  | { key: string; kind: 'constant'; label: string }

export interface Tick {
  position: number
  label: string
}

export interface ParallelRun {
  id: string
  name: string
  config: Record<string, unknown>
  latest: Record<string, number | null>
}

export interface ParallelLine {
  id: string
  label: string
  /** One per axis, in axis order; null where the run has no usable value (the line breaks there). */
  positions: (number | null)[]
  /** What each axis reads for this run, for the hover text. */
  values: string[]
  color: string
}

export interface ParallelData {
  axes: Axis[]
  lines: ParallelLine[]
  /** The colour scale's ends, for the legend (null when no run has the metric). */
  metricRange: { min: number; max: number } | null
}

/** A log axis when every value is positive and they span two decades or more (a learning-rate sweep). */
const LOG_SPAN = 100

/** Config paths whose values differ between the runs (a run without the key counts as a value). */
export function varyingKeys(configs: Record<string, unknown>[]): string[] {
  return configPaths(configs).filter((path) => new Set(configs.map((c) => JSON.stringify(configValue(c, path) ?? null))).size > 1)
}

function isUsable(v: AxisInput): boolean {
  if (v === undefined || v === null) return false
  return typeof v !== 'number' || Number.isFinite(v)
}

function asLabel(v: AxisInput): string {
  if (Array.isArray(v)) return v.map(String).join(', ')
  return String(v)
}

/** The axis for a key from every run's value: numeric when all present values are numbers. */
export function buildAxis(key: string, values: AxisInput[]): Axis {
  const present = values.filter(isUsable)
  if (present.length > 0 && present.every((v) => typeof v === 'number')) {
    const nums = present as number[]
    const min = Math.min(...nums)
    const max = Math.max(...nums)
    if (min === max) return { key, kind: 'constant', label: formatNumber(min) }
    return { key, kind: 'numeric', min, max, log: min > 0 && max / min >= LOG_SPAN }
  }
  const categories = [...new Set(present.map(asLabel))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))
  if (categories.length <= 1) return { key, kind: 'constant', label: categories[0] ?? '—' }
  return { key, kind: 'categorical', categories }
}

/** Where a value sits on an axis, 0 (bottom) .. 1 (top); null when it cannot be placed. */
export function axisPosition(axis: Axis, value: AxisInput): number | null {
  if (!isUsable(value)) return null
  if (axis.kind === 'constant') return 0.5
  if (axis.kind === 'categorical') {
    const i = axis.categories.indexOf(asLabel(value))
    return i < 0 ? null : i / (axis.categories.length - 1)
  }
  if (typeof value !== 'number') return null
  if (axis.log) return (Math.log10(value) - Math.log10(axis.min)) / (Math.log10(axis.max) - Math.log10(axis.min))
  return (value - axis.min) / (axis.max - axis.min)
}

/** Labels along an axis: five for numbers (evenly spaced, geometric on a log axis), each category, or the one constant value. */
export function axisTicks(axis: Axis): Tick[] {
  if (axis.kind === 'constant') return [{ position: 0.5, label: axis.label }]
  if (axis.kind === 'categorical') return axis.categories.map((label, i) => ({ position: i / (axis.categories.length - 1), label }))
  return [0, 0.25, 0.5, 0.75, 1].map((position) => {
    const value = axis.log ? axis.min * Math.pow(axis.max / axis.min, position) : axis.min + (axis.max - axis.min) * position
    return { position, label: formatNumber(value, 3) }
  })
}

/** Viridis, from worst (dark purple) to best (yellow). */
const STOPS = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
]
export const MISSING_COLOR = '#9ca3af'

/** The colour of t in 0 (worst) .. 1 (best); grey when there is no value. */
export function metricColor(t: number | null): string {
  if (t === null || !Number.isFinite(t)) return MISSING_COLOR
  const x = Math.min(1, Math.max(0, t)) * (STOPS.length - 1)
  const i = Math.min(Math.floor(x), STOPS.length - 2)
  const f = x - i
  const [r, g, b] = STOPS[i].map((c, k) => Math.round(c + (STOPS[i + 1][k] - c) * f))
  return `rgb(${r}, ${g}, ${b})`
}

/** The runs as parallel-coordinates lines over `keys`, with `metric` (a final value) as the last axis. */
export function parallelData(runs: ParallelRun[], keys: string[], metric: string | null, lowerIsBetter: boolean): ParallelData {
  const columns = keys.map((key) => ({ key, values: runs.map((r): AxisInput => configValue(r.config, key)) }))
  if (metric) columns.push({ key: metric, values: runs.map((r) => r.latest[metric] ?? null) })
  const axes = columns.map((c) => buildAxis(c.key, c.values))
  const metricValues = metric ? runs.map((r) => r.latest[metric]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)) : []
  const metricRange = metricValues.length > 0 ? { min: Math.min(...metricValues), max: Math.max(...metricValues) } : null
  const lines = runs.map((run, i) => {
    const value = metric ? run.latest[metric] : null
    return {
      id: run.id,
      label: run.name || run.id,
      positions: axes.map((axis, a) => axisPosition(axis, columns[a].values[i])),
      values: columns.map((c) => (isUsable(c.values[i]) ? (typeof c.values[i] === 'number' ? formatNumber(c.values[i] as number) : asLabel(c.values[i])) : '—')),
      color: metricColor(goodness(value ?? null, metricRange, lowerIsBetter)),
    }
  })
  return { axes, lines, metricRange }
}

/** 0 (worst) .. 1 (best) within the range; the middle when every run has the same value. */
function goodness(value: number | null, range: { min: number; max: number } | null, lowerIsBetter: boolean): number | null {
  if (value === null || !Number.isFinite(value) || !range) return null
  if (range.max === range.min) return 0.5
  const t = (value - range.min) / (range.max - range.min)
  return lowerIsBetter ? 1 - t : t
}

/** The stretches of consecutive placed points a line is drawn as (a missing value breaks it): index lists. */
export function lineSegments(positions: (number | null)[]): number[][] {
  const segments: number[][] = []
  let current: number[] = []
  positions.forEach((p, i) => {
    if (p === null) {
      if (current.length > 0) segments.push(current)
      current = []
    } else current.push(i)
  })
  if (current.length > 0) segments.push(current)
  return segments
}
