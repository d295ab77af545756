// The lines of a metric chart, shared by the run page and Compare: the raw values faint and, when
// smoothing is on, the smoothed line strong on top (TensorBoard's look). The raw line is always a
// series of its own, so the legend and the hover read the logged value, not the smoothed one.
import { emaSmooth } from './smoothing'
import type { Theme } from './theme'

export interface ChartSeries {
  label: string
  x: number[]
  y: (number | null)[]
  /** Line colour; the palette picks one when absent. */
  color?: string
  /** Computed from another series (e.g. smoothed): drawn but not counted as data points. */
  derived?: boolean
  /** Drawn faint, under a smoothed line: how faint depends on the theme (rawLineColor). */
  faint?: boolean
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#db2777', '#65a30d']

export function paletteColor(i: number): string {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]
}

/** '#2563eb' at a given opacity: 'rgba(37, 99, 235, 0.25)'. */
export function faint(hex: string, alpha = 0.25): string {
  const n = parseInt(hex.slice(1), 16)
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`
}

/** Mixes '#2563eb' towards white by `share` (0..1), as '#rrggbb'. */
export function lighten(hex: string, share: number): string {
  const n = parseInt(hex.slice(1), 16)
  const channel = (c: number) => Math.round(c + (255 - c) * share)
  const rgb = [(n >> 16) & 255, (n >> 8) & 255, n & 255].map(channel)
  return '#' + rgb.map((c) => c.toString(16).padStart(2, '0')).join('')
}

/**
 * The raw line under a smoothed one: faint, yet readable on the theme's chart panel. The palette's
 * saturated colours at a quarter opacity almost vanish on the dark panel (contrast 1.2:1), so dark
 * lightens the colour before fading it; both themes keep the raw line near 2:1 against the panel,
 * below the smoothed line drawn on top (tests/renderer/chartColors.test.ts).
 */
export function rawLineColor(hex: string, theme: Theme): string {
  return theme === 'dark' ? faint(lighten(hex, 0.4), 0.5) : faint(hex, 0.55)
}

/** The stroke a series is drawn with in a theme. */
export function strokeOf(series: ChartSeries, index: number, theme: Theme): string {
  const color = series.color ?? paletteColor(index)
  return series.faint ? rawLineColor(color, theme) : color
}

/**
 * One metric of one run as chart lines: raw alone when smoothing is 0, otherwise raw (faint, named
 * `label`) and smoothed (strong, named `label` + " (smoothed)").
 */
export function rawAndSmoothed(line: { label: string; x: number[]; y: (number | null)[]; color: string; smoothing: number }): ChartSeries[] {
  const smooth = line.smoothing > 0
  const raw: ChartSeries = { label: line.label, x: line.x, y: line.y, color: line.color }
  if (!smooth) return [raw]
  raw.faint = true
  return [raw, { label: `${line.label} (smoothed)`, x: line.x, y: emaSmooth(line.y, line.smoothing), color: line.color, derived: true }]
}
