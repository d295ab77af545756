// What `workbench pretrain`, `workbench sft` and `workbench tokenizer train` share: parse the
// options, build and validate the stage config, submit the run to the job runner (a worker
// process), and follow it to the end.
import { JobRunner } from '../jobs/runner'
import { resolveHome } from '../tracking/home'
import { getStage } from '../train/stages/registry'
import { backendPreference } from '../backend'
import { buildStageConfig, describeFields, parseCommandArgs, RUN_OPTIONS, type ParsedArgs } from './args'
import type { CliIO } from './io'
import { watchRun, jsonLine } from './watchRun'
import type { ParseArgsConfig } from 'node:util'

export interface StageCommand {
  /** Words after `workbench`, e.g. "tokenizer train". */
  command: string
  stage: string
  usage: string
  /** Options besides the common ones, e.g. { data: { type: 'string', multiple: true } }. */
  options: NonNullable<ParseArgsConfig['options']>
  /** Maps the command's own options to config keys. */
  toConfig(args: ParsedArgs): Record<string, unknown>
  /** Printed after the run has been queued (e.g. where the checkpoints go). */
  notes?: string
}

export async function runStageCommand(cmd: StageCommand, argv: string[], io: CliIO): Promise<number> {
  const stage = getStage(cmd.stage)
  const args = parseCommandArgs(argv, { ...RUN_OPTIONS, ...cmd.options }, cmd.command)
  if (args.values.help) {
    io.out(`${cmd.usage}\n\n${stage.description}\n\n${commonHelp()}\n\n${describeFields(stage)}`)
    return 0
  }
  if (args.positionals.length > 0) {
    throw new Error(`${cmd.command}: unexpected argument "${args.positionals[0]}" (see \`workbench ${cmd.command} --help\`)`)
  }
  const home = resolveHome(args.values.home as string | undefined)
  const backend = args.values.backend as string | undefined
  if (backend !== undefined) backendPreference(backend) // a typo fails here, not in the worker
  const config = buildStageConfig(stage, args, cmd.toConfig(args))
  const runner = new JobRunner({ home, backend })
  const runId = runner.submit({
    stage: stage.name,
    config,
    name: args.values.name as string | undefined,
    experiment: args.values.experiment as string | undefined,
  })
  const json = Boolean(args.values.json)
  if (json) io.out(jsonLine({ type: 'run', run_id: runId, stage: stage.name, home, config }))
  else if (cmd.notes) io.out(cmd.notes)
  return watchRun(runner, io, { runId, home, json })
}

export function commonHelp(): string {
  return [
    'Options:',
    '  --home DIR          workbench home (default: WORKBENCH_HOME or the per-user app-data folder)',
    '  --backend NAME      auto | node-gpu | node | wasm | cpu (default: WORKBENCH_BACKEND or auto)',
    '  --config FILE.json  config keys from a JSON file',
    '  --set KEY=VALUE     override one config key (repeatable); unknown keys and wrong types are errors',
    '  --preset NAME       start from a named preset of this stage',
    '  --name NAME         a name for the run;  --experiment NAME  group it in an experiment',
    '  --json              one JSON object per logged step and evaluation, then a summary object',
    '  -h, --help          this help',
  ].join('\n')
}
