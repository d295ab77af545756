// `workbench resume <run>`: continue a stopped, interrupted or failed run from its last checkpoint.
import { JobRunner } from '../jobs/runner'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { watchRun } from './watchRun'

const USAGE = 'Usage: workbench resume <run-id> [--home DIR] [--backend NAME] [--json]\n\n' +
  'Continues a stopped, interrupted or failed run from its latest checkpoint: same data order,\n' +
  'optimiser state and schedule position, so its curve continues as if never interrupted.'

export async function runResumeCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, COMMON_OPTIONS, 'resume')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const [runId, extra] = args.positionals
  if (!runId) throw new UsageError('resume: which run? Usage: workbench resume <run-id>')
  if (extra) throw new UsageError(`resume: unexpected argument "${extra}"`)
  const home = resolveHome(args.values.home as string | undefined)
  const runner = new JobRunner({ home, backend: args.values.backend as string | undefined })
  runner.resume(runId)
  return watchRun(runner, io, { runId, home, json: Boolean(args.values.json) })
}
