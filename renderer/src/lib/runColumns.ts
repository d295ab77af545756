// The runs table's choosable columns: any config key (a dotted path) and any final metric. A column
// is named by a string, "config:model.n_layers" or "metric:eval/loss", so the choice is easy to
// store (localStorage) and to sort by (sortRuns takes the same names).
import type { RunSummary } from '../../../electron/shared/api'
import { configPaths, configValue, type ConfigValue } from './configPaths'
import { formatNumber } from './format'

export type ColumnRun = Pick<RunSummary, 'config' | 'latest'>

export const DEFAULT_COLUMNS = ['metric:train/loss', 'metric:eval/loss']
export const COLUMNS_STORAGE_KEY = 'workbench.runs.columns'

export interface ChosenColumn {
  id: string
  kind: 'config' | 'metric'
  /** The config path or the metric key. */
  key: string
  /** Numbers right-aligned. */
  numeric: boolean
}

/** The column an id names, or null for an id that is neither a config nor a metric column. */
export function parseColumn(id: string): { kind: 'config' | 'metric'; key: string } | null {
  const m = /^(config|metric):(.+)$/.exec(id)
  return m ? { kind: m[1] as 'config' | 'metric', key: m[2] } : null
}

export function configColumn(path: string): string {
  return `config:${path}`
}

export function metricColumn(key: string): string {
  return `metric:${key}`
}

/** A run's value in a column: a config value, a final metric (null where NaN), or undefined when absent. */
export function columnValue(run: ColumnRun, id: string): ConfigValue | undefined {
  const column = parseColumn(id)
  if (!column) return undefined
  if (column.kind === 'metric') return column.key in run.latest ? run.latest[column.key] : undefined
  return configValue(run.config ?? {}, column.key)
}

/** What a cell shows: numbers with enough digits, lists joined, a dash where the run has nothing. */
export function formatCell(value: ConfigValue | undefined): string {
  if (value === undefined || value === null) return '—'
  if (typeof value === 'number') return formatNumber(value)
  if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : String(v))).join(', ')
  return String(value)
}

/** The chosen columns, described for the table header. */
export function describeColumns(ids: string[], runs: ColumnRun[]): ChosenColumn[] {
  return ids.flatMap((id) => {
    const column = parseColumn(id)
    if (!column) return []
    const numeric = column.kind === 'metric' || runs.some((r) => typeof columnValue(r, id) === 'number')
    return [{ id, ...column, numeric }]
  })
}

/** The columns a user can add: every config path and every metric any listed run has, minus those shown. */
export function availableColumns(runs: ColumnRun[], chosen: string[]): { config: string[]; metrics: string[] } {
  const shown = new Set(chosen)
  const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.latest)))].sort()
  return {
    config: configPaths(runs.map((r) => r.config ?? {})).filter((p) => !shown.has(configColumn(p))),
    metrics: metrics.filter((m) => !shown.has(metricColumn(m))),
  }
}

/** The stored choice, or the defaults when there is none or it is unreadable. */
export function loadColumns(storage: Pick<Storage, 'getItem'> | undefined): string[] {
  try {
    const raw = storage?.getItem(COLUMNS_STORAGE_KEY)
    if (!raw) return [...DEFAULT_COLUMNS]
    const parsed: unknown = JSON.parse(raw)
    if (!Array.isArray(parsed)) return [...DEFAULT_COLUMNS]
    return parsed.filter((id): id is string => typeof id === 'string' && parseColumn(id) !== null)
  } catch {
    return [...DEFAULT_COLUMNS]
  }
}

export function saveColumns(storage: Pick<Storage, 'setItem'> | undefined, ids: string[]): void {
  try {
    storage?.setItem(COLUMNS_STORAGE_KEY, JSON.stringify(ids))
  } catch {
    // Storage full or disabled (a private window): the choice lasts until the page reloads.
  }
}
