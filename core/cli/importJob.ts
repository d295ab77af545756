// `workbench import-job DIR`: record a cluster run (trainer_state.json + final checkpoint) as a run.
import { importJob } from '../interchange/importJob'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench import-job <dir> [--name NAME]',
  '',
  'Reads what TRL or LLaMA-Factory left in <dir>/output (trainer_state.json, the final checkpoint) and',
  'records it as a run with train/loss, train/lr, train/grad_norm and eval/loss, linked to the run',
  'it was exported from by `workbench export-job`.',
].join('\n')

export async function runImportJobCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, name: { type: 'string' } }, 'import-job')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const [dir, extra] = args.positionals
  if (!dir) throw new UsageError('import-job: which folder? Usage: workbench import-job <dir>')
  if (extra) throw new UsageError(`import-job: unexpected argument "${extra}"`)
  const result = importJob(resolveHome(args.values.home as string | undefined), dir, { name: args.values.name as string | undefined })
  if (args.values.json) {
    io.out(jsonLine({ type: 'summary', run_id: result.runId, parent: result.parentRunId ?? null, points: result.points, checkpoint: result.checkpointDir ?? null }))
    return 0
  }
  io.out(`imported ${dir} as run ${result.runId}${result.parentRunId ? ` (from run ${result.parentRunId})` : ''}: ${result.points} metric points`)
  if (result.checkpointDir) io.out(`  checkpoint: ${result.checkpointDir}`)
  return 0
}
