// Sorting the runs table by a column: a run field, the run's duration, a final metric
// ("metric:train/loss") or a config value ("config:model.n_layers"). Runs without a value (no
// metric yet, NaN, no such config key) sort last either way.
import type { RunSummary } from '../../../electron/shared/api'
import { columnValue, parseColumn } from './runColumns'

export interface RunSort {
  column: string
  descending: boolean
}

function valueOf(run: RunSummary, column: string, now: number): string | number | null {
  if (parseColumn(column)) {
    const v = columnValue(run, column)
    if (typeof v === 'number') return Number.isFinite(v) ? v : null
    if (v === undefined || v === null) return null
    return Array.isArray(v) ? v.join(', ') : String(v)
  }
  if (column === 'duration') return run.startedAt ? (run.endedAt ?? now) - run.startedAt : null
  const v = (run as unknown as Record<string, unknown>)[column]
  return typeof v === 'number' || typeof v === 'string' ? v : null
}

export function sortRuns(runs: RunSummary[], sort: RunSort | null, now = Date.now()): RunSummary[] {
  if (!sort) return runs
  const sign = sort.descending ? -1 : 1
  return [...runs].sort((a, b) => {
    const x = valueOf(a, sort.column, now)
    const y = valueOf(b, sort.column, now)
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y))
    return sign * order
  })
}

/** Clicking a column sorts by it ascending, clicking it again flips the order. */
export function nextSort(current: RunSort | null, column: string): RunSort {
  return current?.column === column ? { column, descending: !current.descending } : { column, descending: false }
}
