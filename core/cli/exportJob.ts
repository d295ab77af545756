// `workbench export-job <run> --target trl|llamafactory --out DIR`
import { exportJob, JOB_TARGETS } from '../interchange/exportJob'
import type { JobTarget } from '../interchange/jobData'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench export-job <run> --target trl|llamafactory --out DIR',
  '',
  'Writes a bundle (model, data, config, DeepSpeed launch script, README) that trains the run\'s stage',
  'on a GPU cluster with TRL or LLaMA-Factory. Bring the results back with `workbench import-job DIR`.',
].join('\n')

export async function runExportJobCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, target: { type: 'string' }, out: { type: 'string' } }, 'export-job')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  const [run, extra] = args.positionals
  if (!run) throw new UsageError('export-job: which run? Usage: workbench export-job <run> --target trl --out DIR')
  if (extra) throw new UsageError(`export-job: unexpected argument "${extra}"`)
  if (!JOB_TARGETS.includes(v.target as JobTarget)) throw new UsageError(`export-job: --target must be one of ${JOB_TARGETS.join(', ')}`)
  if (typeof v.out !== 'string') throw new UsageError('export-job: --out DIR is required')
  const result = exportJob(resolveHome(v.home as string | undefined), run, v.target as JobTarget, v.out)
  if (v.json) {
    io.out(jsonLine({ type: 'export-job', dir: result.dir, run_id: result.runId, stage: result.stage, target: result.target, examples: result.examples, unmapped: result.unmapped.map((u) => u.key) }))
    return 0
  }
  io.out(`wrote ${result.target} bundle for run ${result.runId} (${result.stage}, ${result.examples} examples) to ${result.dir}`)
  if (result.unmapped.length > 0) io.out(`  not mapped (see README.md): ${result.unmapped.map((u) => u.key).join(', ')}`)
  io.out(`  run it: ${result.dir}/launch.sh   then: workbench import-job ${result.dir}`)
  return 0
}
