// `workbench safety-report <run> [<run>...] --out report.html|report.csv`: the safety report of
// one or more safety_eval runs (violation % per model, per risk category, single- against
// multi-turn, refusal and false-refusal rates, a person's ratings), as standalone HTML or CSV.
import fs from 'node:fs'
import path from 'node:path'
import { buildSafetyReport, safetyReportCsv, safetyReportHtml } from '../eval/safetyReport'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench safety-report <safety_eval run> [<run> ...] --out report.html|report.csv [--json]',
  '',
  'Writes the safety report of the runs, compared side by side: a standalone HTML page with bars',
  '(violation % per model, per risk category, single- vs multi-turn; 95% intervals) or a CSV table.',
].join('\n')

export async function runSafetyReportCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, out: { type: 'string' } }, 'safety-report')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length === 0) throw new UsageError('safety-report: name at least one safety_eval run. ' + USAGE.split('\n')[0])
  const out = args.values.out as string | undefined
  if (!out) throw new UsageError('safety-report: --out report.html or --out report.csv is required')
  const format = path.extname(out).toLowerCase()
  if (format !== '.html' && format !== '.csv') throw new UsageError(`safety-report: --out must end in .html or .csv, got "${out}"`)
  const store = Store.open(resolveHome(args.values.home as string | undefined))
  try {
    const runIds = args.positionals.map((ref) => store.resolveRunId(ref))
    const data = buildSafetyReport(store, runIds)
    const file = path.resolve(out)
    fs.writeFileSync(file, format === '.html' ? safetyReportHtml(data) : safetyReportCsv(data))
    if (args.values.json) io.out(jsonLine({ type: 'safety_report', runs: runIds, out: file }))
    else io.out(`wrote the safety report of ${runIds.length} run(s) to ${file}`)
    return 0
  } finally {
    store.close()
  }
}
