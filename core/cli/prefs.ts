// `workbench prefs import|export|list`: preference datasets. Import records a file as a run of
// stage `preferences` (through the job runner like every run) and prints its statistics; export
// writes any preference dataset, imported or annotated in the app, as JSONL.
import fs from 'node:fs'
import path from 'node:path'
import { Store } from '../tracking/store'
import { resolveHome } from '../tracking/home'
import { isAnnotationSession, annotationSummary } from '../tracking/annotations'
import { loadPreferenceDataset } from '../data/preferences/dataset'
import { PairWriter, EXPORT_FORMATS, type ExportFormat } from '../data/preferences/output'
import { formatPreferenceStats, type PreferenceStats } from '../data/preferences/stats'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { runStageCommand } from './stageCommand'
import { jsonLine } from './watchRun'
import { getStage } from '../train/stages/registry'

const USAGE = [
  'Usage: workbench prefs import FILE [--format auto|hh|trl|workbench] [--name NAME] [--skip-invalid] [--json]',
  '       workbench prefs export <dataset run> --format workbench|trl --out FILE',
  '       workbench prefs list [--json]',
].join('\n')

export async function runPrefsCommand(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'import') return runImport(rest, io)
  if (sub === 'export') return runExport(rest, io)
  if (sub === 'list') return runList(rest, io)
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE)
    return sub === undefined ? 2 : 0
  }
  throw new UsageError(`prefs: unknown subcommand "${sub}" (known: import, export, list)`)
}

/** `prefs import` is the preferences stage's own command; afterwards it prints the statistics. */
function runImport(argv: string[], io: CliIO): Promise<number> {
  return runStageCommand(getStage('preferences'), argv, io, ({ home, runId, json, code }) => {
    if (code === 0) printImportStats(home, runId, io, json)
  })
}

/** The statistics the stage wrote to stats.json, as a table (or one JSON object). */
function printImportStats(home: string, runId: string, io: CliIO, json: boolean): void {
  const store = Store.open(home)
  try {
    const artifact = store.listArtifacts(runId, { kind: 'preference_stats' })[0]
    if (!artifact) return
    const stats = JSON.parse(fs.readFileSync(store.absolutePath(artifact.path), 'utf8')) as PreferenceStats & { format: string }
    if (json) {
      io.out(jsonLine({ type: 'stats', run_id: runId, ...stats }))
      return
    }
    io.out(`preference dataset ${runId} (${stats.format} format):`)
    for (const line of formatPreferenceStats(stats)) io.out(line)
  } finally {
    store.close()
  }
}

async function runExport(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, format: { type: 'string' }, out: { type: 'string' } }, 'prefs export')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const [ref, extra] = args.positionals
  if (!ref) throw new UsageError('prefs export: which dataset? Usage: workbench prefs export <dataset run> --format workbench|trl --out FILE')
  if (extra) throw new UsageError(`prefs export: unexpected argument "${extra}"`)
  const format = (args.values.format as string | undefined) ?? 'workbench'
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`prefs export: --format must be one of ${EXPORT_FORMATS.join(', ')}, got "${format}"`)
  const out = args.values.out as string | undefined
  if (!out) throw new UsageError('prefs export: --out FILE is required')
  const store = Store.open(resolveHome(args.values.home as string | undefined))
  try {
    const pairs = await loadPreferenceDataset(store, ref)
    const writer = new PairWriter(path.resolve(out), format as ExportFormat)
    for (const pair of pairs) writer.write(pair)
    writer.close()
    if (args.values.json) io.out(jsonLine({ type: 'export', run_id: store.resolveRunId(ref), format, pairs: writer.count, out: writer.file }))
    else io.out(`wrote ${writer.count} pairs (${format} format) to ${writer.file}`)
    return 0
  } finally {
    store.close()
  }
}

async function runList(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, COMMON_OPTIONS, 'prefs list')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const store = Store.open(resolveHome(args.values.home as string | undefined))
  try {
    const rows = store.listRuns({ stage: 'preferences' }).map((r) => {
      const config = store.getRunRecord(r.id).config
      const annotated = isAnnotationSession(config)
      const pairs = annotated ? annotationSummary(store, r.id).judgements : Number(store.getRun(r.id).params.pairs ?? 0)
      return { run_id: r.id, name: r.name, status: r.status, kind: annotated ? 'annotated' : 'imported', pairs, source: annotated ? String(config.promptSource ?? '') : String(config.data ?? '') }
    })
    if (args.values.json) {
      for (const row of rows) io.out(jsonLine({ type: 'dataset', ...row }))
      return 0
    }
    if (rows.length === 0) {
      io.out('no preference datasets yet: workbench prefs import FILE, or annotate in the app (Preferences)')
      return 0
    }
    io.out(`${'run'.padEnd(22)} ${'name'.padEnd(24)} ${'kind'.padEnd(10)} ${'status'.padEnd(11)} ${'pairs'.padStart(7)}  source`)
    for (const r of rows) io.out(`${r.run_id.padEnd(22)} ${r.name.slice(0, 24).padEnd(24)} ${r.kind.padEnd(10)} ${r.status.padEnd(11)} ${String(r.pairs).padStart(7)}  ${r.source}`)
    return 0
  } finally {
    store.close()
  }
}
