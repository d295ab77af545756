// `workbench runs list|show|compare|export|delete|tag|note`: the recorded runs on the command line.
// A thin layer over core/tracking/store: readable tables on a terminal, JSON with --json.

import fs from 'node:fs'
import path from 'node:path'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import { flattenConfig } from '../tracking/compare'
import { numberForJson } from '../tracking/values'
import { formatBytes, formatDuration, formatNumber, formatTable, formatTime } from '../tracking/format'
import { RUN_STATUSES, type RunFilter, type RunStatus, type RunSummary } from '../tracking/types'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { formatProgress } from './progress'
import { progressNow } from '../tracking/store/progress'

/** The minimal output the runs commands need (the app or tests may pass this instead of a CliIO). */
export interface RunsIO {
  home: string
  stdout: (s: string) => void
  stderr?: (s: string) => void
  json: boolean
}

const USAGE = `Usage: workbench runs <subcommand> [options]

  list [--stage S] [--status S] [--tag k[=v]] [--experiment E] [--text T]
       [--sort created|started|ended|name|stage|status|metric:<key>] [--order asc|desc] [--limit N]
  show <run>                         everything about one run
  compare <run> <run> ...            config keys that differ, final and best metrics
  export <run> ... [--format json|csv] [--out FILE]
  delete <run> [--force]             rows and artifact files; --force when other runs descend from it
  tag <run> key=value ... [--remove key]
  note <run> <text ...>

<run> is a run id or a unique prefix of one. Every subcommand takes --home DIR and --json.`

const OPTIONS = {
  ...COMMON_OPTIONS,
  stage: { type: 'string' },
  status: { type: 'string' },
  tag: { type: 'string' },
  experiment: { type: 'string' },
  text: { type: 'string' },
  sort: { type: 'string' },
  order: { type: 'string' },
  limit: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  force: { type: 'boolean' },
  remove: { type: 'string', multiple: true },
} as const

/** Metric columns shown by `runs list` when any listed run has them. */
const LIST_METRICS = ['train/loss', 'eval/loss']

type Values = Record<string, string | boolean | string[] | undefined>

interface Context {
  store: Store
  out: (s: string) => void
  json: boolean
  values: Values
  args: string[]
}

/**
 * Runs one `workbench runs ...` command line. Usage mistakes throw UsageError and other failures
 * throw Error (the CLI dispatcher prints them); returns the exit code otherwise.
 */
export async function runRunsCommand(argv: string[], io: CliIO | RunsIO): Promise<number> {
  const [sub, ...rest] = argv
  const out = 'out' in io ? io.out : io.stdout
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    out(USAGE)
    return sub === undefined ? 2 : 0
  }
  const handler = SUBCOMMANDS[sub]
  if (!handler) throw new UsageError(`runs: unknown subcommand "${sub}" (known: ${Object.keys(SUBCOMMANDS).join(', ')})`)
  const parsed = parseCommandArgs(rest, OPTIONS, `runs ${sub}`)
  if (parsed.values.help) {
    out(USAGE)
    return 0
  }
  const flagHome = parsed.values.home as string | undefined
  const home = 'out' in io ? resolveHome(flagHome) : flagHome ? resolveHome(flagHome) : io.home
  const json = Boolean(parsed.values.json) || ('json' in io && io.json)
  const store = Store.open(home)
  try {
    return handler({ store, out, json, values: parsed.values, args: parsed.positionals })
  } finally {
    store.close()
  }
}

const SUBCOMMANDS: Record<string, (ctx: Context) => number> = {
  list: listCommand,
  show: showCommand,
  compare: compareCommand,
  export: exportCommand,
  delete: deleteCommand,
  tag: tagCommand,
  note: noteCommand,
}

function listCommand({ store, out, json, values, args }: Context): number {
  if (args.length > 0) throw new UsageError(`runs list: unexpected argument "${args[0]}"`)
  const runs = store.listRuns(filterFrom(values))
  if (json) {
    out(toJson(runs))
    return 0
  }
  if (runs.length === 0) {
    out('No runs.')
    return 0
  }
  const metricKeys = LIST_METRICS.filter((key) => runs.some((r) => key in r.metrics))
  const rows = runs.map((r) => [
    r.id,
    r.name,
    r.stage,
    r.status,
    formatTime(r.createdAt),
    formatDuration(runDuration(r)),
    ...metricKeys.map((key) => formatNumber(r.metrics[key])),
  ])
  out(formatTable(['ID', 'NAME', 'STAGE', 'STATUS', 'CREATED', 'DURATION', ...metricKeys], rows))
  return 0
}

function showCommand({ store, out, json, args }: Context): number {
  const id = store.resolveRunId(oneRun(args, 'show'))
  const run = store.getRun(id)
  const artifacts = store.listArtifacts(id)
  if (json) {
    out(toJson({ ...run, artifacts }))
    return 0
  }
  const lines: string[] = [
    `${run.name}  (${run.id})`,
    `  stage       ${run.stage}`,
    `  status      ${run.status}${run.error ? `: ${run.error}` : ''}`,
    `  experiment  ${run.experiment}`,
    `  created     ${formatTime(run.createdAt)}   started ${formatTime(run.startedAt)}   ended ${formatTime(run.endedAt)}   (${formatDuration(runDuration(run))})`,
  ]
  if (run.seed !== null) lines.push(`  seed        ${run.seed}`)
  if (run.backend) lines.push(`  backend     ${Object.values(run.backend).join(' / ')}`)
  if (run.pid !== null) lines.push(`  process     pid ${run.pid} on ${run.hostname}`)
  const progress = progressNow(run.progress, run.status)
  if (progress) lines.push(`  progress    ${formatProgress(progress)}  (recorded ${formatTime(run.progress!.updatedAt)})`)
  if (run.notes) lines.push(`  notes       ${run.notes}`)
  if (Object.keys(run.tags).length) lines.push(`  tags        ${Object.entries(run.tags).map(([k, v]) => (v ? `${k}=${v}` : k)).join(', ')}`)
  for (const p of run.parents) lines.push(`  parent      ${p.role}: ${p.runId}${p.exists ? ` (${p.stage} "${p.name}", ${p.status})` : ' (deleted)'}`)
  for (const c of run.children) lines.push(`  child       ${c.role}: ${c.runId} (${c.stage} "${c.name}", ${c.status})`)
  section(lines, 'Params', Object.entries(run.params).map(([k, v]) => [k, String(v)]))
  section(lines, 'Config', Object.entries(flattenConfig(run.config)).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]))
  section(lines, 'Latest metrics', Object.entries(run.metrics).map(([k, v]) => [k, formatNumber(v)]))
  // What happened to the run (cancels, resumes, a dead process found, warnings): the latest ten.
  section(lines, 'Events', store.listEvents(id).slice(-10).map((e) => [formatTime(e.time), e.kind, e.step === null ? '' : `step ${e.step}`, e.message]))
  section(lines, 'Artifacts', artifacts.map((a) => [a.kind, a.path, formatBytes(a.bytes), a.sha256.slice(0, 12), a.step === null ? '' : `step ${a.step}`]))
  out(lines.join('\n'))
  return 0
}

function compareCommand({ store, out, json, args }: Context): number {
  if (args.length < 2) throw new UsageError('runs compare: give at least two runs')
  const ids = args.map((a) => store.resolveRunId(a))
  const cmp = store.compareRuns(ids)
  if (json) {
    out(toJson(cmp))
    return 0
  }
  const heads = cmp.runs.map((r) => `${r.name} (${r.id.slice(-4)})`)
  const lines = [`Comparing ${cmp.runs.map((r) => r.id).join(', ')}`, '', 'Config differences:']
  lines.push(
    cmp.configDiff.length === 0
      ? '  (none: the configs are identical)'
      : indent(formatTable(['KEY', ...heads], cmp.configDiff.map((d) => [d.key, ...d.values.map((v) => (v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v)))]))),
  )
  lines.push('', 'Metrics (final / best):')
  const metricRows = cmp.metrics.map((m) => [
    m.key + (m.better ? ` (${m.better})` : ''),
    ...m.final.map((f, i) => (m.better ? `${formatNumber(f)} / ${formatNumber(m.best[i])}` : formatNumber(f))),
  ])
  lines.push(metricRows.length === 0 ? '  (no metrics recorded)' : indent(formatTable(['METRIC', ...heads], metricRows)))
  out(lines.join('\n'))
  return 0
}

function exportCommand({ store, out, values, args }: Context): number {
  if (args.length === 0) throw new UsageError('runs export: which runs? Usage: workbench runs export <run> ... [--format json|csv] [--out FILE]')
  const format = (values.format as string | undefined) ?? 'json'
  if (format !== 'json' && format !== 'csv') throw new UsageError(`runs export: --format must be json or csv, got "${format}"`)
  const text = store.exportRuns(args.map((a) => store.resolveRunId(a)), format)
  const file = values.out as string | undefined
  if (file) {
    fs.writeFileSync(path.resolve(file), text)
    out(`Exported ${args.length} run(s) to ${path.resolve(file)}`)
  } else {
    out(text.trimEnd())
  }
  return 0
}

function deleteCommand({ store, out, json, values, args }: Context): number {
  const id = store.resolveRunId(oneRun(args, 'delete'))
  const result = store.deleteRun(id, { force: Boolean(values.force) })
  if (json) out(toJson(result))
  else out(`Deleted run ${id}${result.deletedPaths.length ? ` and ${result.deletedPaths.join(', ')}` : ''}`)
  return 0
}

function tagCommand({ store, out, json, values, args }: Context): number {
  const [first, ...pairs] = args
  const removals = (values.remove as string[] | undefined) ?? []
  if (!first || (pairs.length === 0 && removals.length === 0)) throw new UsageError('runs tag: Usage: workbench runs tag <run> key=value ... [--remove key]')
  const id = store.resolveRunId(first)
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq === 0) throw new UsageError(`runs tag: "${pair}" has no key (expected key=value)`)
    if (eq < 0) store.setTag(id, pair, '')
    else store.setTag(id, pair.slice(0, eq), pair.slice(eq + 1))
  }
  for (const key of removals) store.removeTag(id, key)
  const tags = store.getRun(id).tags
  out(json ? toJson({ runId: id, tags }) : `Tags of ${id}: ${Object.entries(tags).map(([k, v]) => (v ? `${k}=${v}` : k)).join(', ') || '(none)'}`)
  return 0
}

function noteCommand({ store, out, json, args }: Context): number {
  const [first, ...words] = args
  if (!first || words.length === 0) throw new UsageError('runs note: Usage: workbench runs note <run> <text ...>')
  const id = store.resolveRunId(first)
  store.setNotes(id, words.join(' '))
  out(json ? toJson({ runId: id, notes: store.getRunRecord(id).notes }) : `Notes of ${id} saved.`)
  return 0
}

// ---------------------------------------------------------------- helpers

function filterFrom(values: Values): RunFilter {
  const filter: RunFilter = {}
  for (const key of ['stage', 'tag', 'experiment', 'text', 'sort'] as const) {
    if (values[key] !== undefined) filter[key] = values[key] as string
  }
  const status = values.status as string | undefined
  if (status !== undefined) {
    if (!(RUN_STATUSES as readonly string[]).includes(status)) throw new UsageError(`runs list: --status must be one of ${RUN_STATUSES.join(', ')}, got "${status}"`)
    filter.status = status as RunStatus
  }
  const order = values.order as string | undefined
  if (order !== undefined) {
    if (order !== 'asc' && order !== 'desc') throw new UsageError(`runs list: --order must be asc or desc, got "${order}"`)
    filter.order = order
  }
  const limit = values.limit as string | undefined
  if (limit !== undefined) {
    if (!/^\d+$/.test(limit)) throw new UsageError(`runs list: --limit must be a whole number, got "${limit}"`)
    filter.limit = Number(limit)
  }
  return filter
}

function oneRun(args: string[], sub: string): string {
  if (args.length !== 1) throw new UsageError(`runs ${sub}: give exactly one run (got ${args.length})`)
  return args[0]
}

function runDuration(run: Pick<RunSummary, 'startedAt' | 'endedAt' | 'status' | 'heartbeatAt'>): number | null {
  if (run.startedAt === null) return null
  const end = run.endedAt ?? (run.status === 'running' ? Date.now() : run.heartbeatAt)
  return end === null ? null : end - run.startedAt
}

function section(lines: string[], title: string, rows: string[][]): void {
  if (rows.length === 0) return
  lines.push('', `${title}:`, indent(formatTable(null, rows, 80)))
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => '  ' + l)
    .join('\n')
}

/** JSON with NaN and infinities written as strings (plain JSON would turn them into null). */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'number' ? numberForJson(v) : v), 2)
}
