// Exporting runs for other tools: config, params, tags, lineage, full metric histories and the
// artifacts list of each run, as JSON or as long-format CSV.

import { flattenConfig } from '../compare'
import { csvLine } from '../csv'
import { numberForJson } from '../values'
import type { RunDetails } from '../types'
import type { Store } from '../store'

export function exportRuns(store: Store, ids: string[], format: 'json' | 'csv'): string {
  if (format !== 'json' && format !== 'csv') throw new Error(`export format must be json or csv, got "${format}"`)
  const runs = ids.map((id) => store.getRun(id))
  return format === 'json' ? exportJson(store, runs) : exportCsv(store, runs)
}

function exportJson(store: Store, runs: RunDetails[]): string {
  const exported = runs.map((run) => ({
    ...run,
    metrics: Object.fromEntries(Object.entries(run.metrics).map(([k, v]) => [k, numberForJson(v)])),
    history: Object.fromEntries(
      store.metricKeys(run.id).map((key) => [
        key,
        store.metricHistory(run.id, key).map((p) => ({ step: p.step, value: numberForJson(p.value), wallTime: p.wallTime })),
      ]),
    ),
    artifacts: store.listArtifacts(run.id),
  }))
  return JSON.stringify({ format: 'workbench-runs', version: 1, exportedAt: new Date().toISOString(), runs: exported }, null, 2) + '\n'
}

/** Long format, one value per line: easy to filter by `record` in a spreadsheet or pandas. */
function exportCsv(store: Store, runs: RunDetails[]): string {
  let out = csvLine(['run_id', 'run_name', 'stage', 'record', 'key', 'step', 'value', 'wall_time', 'detail'])
  for (const run of runs) {
    const line = (record: string, key: string, step: unknown, value: unknown, wallTime: unknown = '', detail: unknown = '') => {
      out += csvLine([run.id, run.name, run.stage, record, key, step, value, wallTime, detail])
    }
    line('run', 'status', '', run.status)
    line('run', 'experiment', '', run.experiment)
    line('run', 'created_at', '', new Date(run.createdAt).toISOString())
    if (run.seed !== null) line('run', 'seed', '', run.seed)
    for (const p of run.parents) line('parent', p.role, '', p.runId)
    for (const [key, value] of Object.entries(flattenForCsv(run.config))) line('config', key, '', value)
    for (const [key, value] of Object.entries(run.params)) line('param', key, '', value)
    for (const [key, value] of Object.entries(run.tags)) line('tag', key, '', value)
    for (const key of store.metricKeys(run.id)) {
      for (const p of store.metricHistory(run.id, key)) line('metric', key, p.step, p.value, p.wallTime)
    }
    for (const a of store.listArtifacts(run.id)) {
      line('artifact', a.kind, a.step ?? '', a.path, '', JSON.stringify({ bytes: a.bytes, sha256: a.sha256, meta: a.meta }))
    }
  }
  return out
}

/** Flattened config with non-scalar values (lists, null) written as JSON. */
function flattenForCsv(config: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(flattenConfig(config))) {
    out[key] = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : JSON.stringify(value)
  }
  return out
}
