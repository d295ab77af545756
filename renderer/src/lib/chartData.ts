// What a uPlot chart is handed: tick labels and the aligned data table. Kept out of the component so
// every series shape (zeros, negatives, NaN, ±Inf, one point, nothing at all) is tested without a
// canvas. A chart control must never break a chart.
import uPlot from 'uplot'

export interface SeriesValues {
  x: number[]
  y: (number | null)[]
}

/**
 * Tick labels with enough digits to tell neighbours apart (uPlot's default rounds 6e-4 to 0.001).
 * On a log axis uPlot hands `null` for the ticks it leaves unlabelled (2..9 between decades), so a
 * split may be null or not finite: those get an empty label.
 */
export function tickLabels(splits: (number | null)[]): string[] {
  return splits.map((v) => {
    if (v === null || v === undefined || !Number.isFinite(v)) return ''
    if (v === 0) return '0'
    const abs = Math.abs(v)
    if (abs < 1e-4 || abs >= 1e7) return v.toExponential(1)
    if (abs >= 1000) return Math.round(v).toLocaleString('en-US')
    return String(Number(v.toPrecision(3)))
  })
}

/** A value a linear axis can place: NaN and ±Inf are gaps (the table still lists them). */
function drawable(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null
}

/** A value a log axis can place: only finite positive numbers. */
function drawableOnLog(v: number | null): number | null {
  return v !== null && Number.isFinite(v) && v > 0 ? v : null
}

/** Log scale only helps when some value is positive; otherwise the chart stays linear. */
export function canUseLogScale(series: SeriesValues[]): boolean {
  return series.some((s) => s.y.some((v) => drawableOnLog(v) !== null))
}

/** The aligned table uPlot draws: [xs, ys of series 1, ys of series 2, ...]. */
export function chartTable(series: SeriesValues[], logScale: boolean): uPlot.AlignedData {
  const clean = logScale ? drawableOnLog : drawable
  const tables = series.map((s) => {
    const rows = s.x.map((x, i) => [x, clean(s.y[i] ?? null)] as const).filter(([x]) => Number.isFinite(x))
    return [rows.map((r) => r[0]), rows.map((r) => r[1])] as uPlot.AlignedData
  })
  if (tables.length === 0) return [[]]
  if (tables.length === 1) return tables[0]
  return uPlot.join(tables)
}
