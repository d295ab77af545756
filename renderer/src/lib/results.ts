// Metrics logged once (an evaluation's results) read as a table, not as one-point line charts.
// Keys are grouped by the metric they break down: eval/gold_accuracy_math sits under
// eval/gold_accuracy as "math", eval/violation_rate_violence under eval/violation_rate. A key
// ending in _lo / _hi beside its base is that base's interval.

export interface ResultRow {
  key: string
  /** The breakdown's name ("math"), or the metric's own key for the group's headline row. */
  label: string
  value: number
  lo?: number
  hi?: number
}

export interface ResultGroup {
  /** The metric the rows break down (eval/gold_accuracy), or the key of a metric on its own. */
  name: string
  /** The group's own value (eval/gold_accuracy itself), when logged. */
  total?: ResultRow
  rows: ResultRow[]
}

const INTERVAL = /_(lo|hi)$/

/** Keys of series with one logged point: results, once the run has stopped logging. */
export function singlePointKeys(series: Iterable<{ key: string; steps: number[] }>): string[] {
  return [...series].filter((s) => s.steps.length === 1).map((s) => s.key)
}

export function groupResults(values: Record<string, number>): ResultGroup[] {
  const keys = Object.keys(values).sort()
  const isInterval = (k: string) => INTERVAL.test(k) && k.replace(INTERVAL, '') in values
  const bases = keys.filter((k) => !isInterval(k))
  const row = (key: string, label: string): ResultRow => {
    const lo = values[`${key}_lo`]
    const hi = values[`${key}_hi`]
    return { key, label, value: values[key], ...(lo !== undefined ? { lo } : {}), ...(hi !== undefined ? { hi } : {}) }
  }
  /** The longest other key this one breaks down (key = parent + '_' + part). */
  const parentOf = (key: string) =>
    bases.filter((b) => b !== key && key.startsWith(`${b}_`)).sort((a, b) => b.length - a.length)[0]

  const groups = new Map<string, ResultGroup>()
  const groupFor = (name: string) => {
    let g = groups.get(name)
    if (!g) groups.set(name, (g = { name, rows: [] }))
    return g
  }
  for (const key of bases) {
    const parent = parentOf(key)
    if (parent) groupFor(parent).rows.push(row(key, key.slice(parent.length + 1)))
    else groupFor(key).total = row(key, key)
  }
  return [...groups.values()]
}

/** Bar length in percent: rates and accuracies in [0, 1] as they are, other values against the largest. */
export function barPercent(value: number, scale: number): number {
  if (!Number.isFinite(value) || scale <= 0) return 0
  return Math.max(0, Math.min(100, (100 * Math.abs(value)) / scale))
}

/** The scale a group's bars share: 1 when every value is a rate, else the largest magnitude. */
export function barScale(group: ResultGroup): number {
  const all = [group.total, ...group.rows].filter((r): r is ResultRow => !!r).flatMap((r) => [r.value, r.hi ?? r.value])
  const finite = all.filter(Number.isFinite)
  if (finite.length === 0) return 0
  return finite.every((v) => v >= 0 && v <= 1) ? 1 : Math.max(...finite.map(Math.abs))
}
