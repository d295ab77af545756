// `workbench <stage command>`: every stage with a `cli` in its StageDefinition gets a command
// (pretrain, sft, tokenizer train, gold-eval ...). Parse the options, build the stage config,
// submit the run to the job runner (which checks it before recording anything) and follow it.
import fs from 'node:fs'
import path from 'node:path'
import type { ParseArgsConfig } from 'node:util'
import { backendPreference } from '../backend'
import { parseText, type ConfigField } from '../config/schema'
import { JobRunner } from '../jobs/runner'
import { parseDatasetRef } from '../data/preferences/dataset'
import { resolveHome } from '../tracking/home'
import type { StageDefinition } from '../train/stages/types'
import { absoluteIfPath, buildStageConfig, describeFields, existingPaths, parseCommandArgs, RUN_OPTIONS, UsageError, type ParsedArgs } from './args'
import type { CliIO } from './io'
import { jsonLine, watchRun } from './watchRun'

type Options = NonNullable<ParseArgsConfig['options']>

/** What a command may do once its run has ended (e.g. `prefs import` prints the dataset's statistics). */
export type AfterRun = (run: { home: string; runId: string; json: boolean; code: number }) => void

export async function runStageCommand(stage: StageDefinition, argv: string[], io: CliIO, after?: AfterRun): Promise<number> {
  const cli = stage.cli
  if (!cli) throw new Error(`stage ${stage.name} has no command`)
  const args = parseCommandArgs(argv, { ...RUN_OPTIONS, ...flagOptions(stage) }, cli.command)
  if (args.values.help) {
    io.out(`${cli.usage}\n\n${stage.description}\n\n${commonHelp()}\n\n${describeFields(stage)}`)
    return 0
  }
  const allowed = cli.positional ? 1 : 0
  if (args.positionals.length > allowed) {
    throw new UsageError(`${cli.command}: unexpected argument "${args.positionals[allowed]}" (see \`workbench ${cli.command} --help\`)`)
  }
  const home = resolveHome(args.values.home as string | undefined)
  const backend = args.values.backend as string | undefined
  if (backend !== undefined) backendPreference(backend) // a typo fails here, not in the worker
  const config = buildStageConfig(stage, args, flagValues(stage, args))
  const runner = new JobRunner({ home, backend })
  const runId = runner.submit({
    stage: stage.name,
    config,
    name: args.values.name as string | undefined,
    experiment: args.values.experiment as string | undefined,
  })
  const json = Boolean(args.values.json)
  if (json) io.out(jsonLine({ type: 'run', run_id: runId, stage: stage.name, home, config }))
  else if (cli.notes) io.out(cli.notes)
  const code = await watchRun(runner, io, { runId, home, json })
  after?.({ home, runId, json, code })
  return code
}

function flagFields(stage: StageDefinition): [string, ConfigField][] {
  return Object.entries(stage.cli?.flags ?? {}).map(([flag, key]) => [flag, stage.fields.find((f) => f.key === key)!])
}

/** The positional argument, as the value of a pseudo-flag named after its key. */
function withPositional(stage: StageDefinition, args: ParsedArgs): { fields: [string, ConfigField][]; values: Record<string, unknown>; positional?: string } {
  const key = stage.cli?.positional
  const fields = flagFields(stage)
  if (key === undefined || args.positionals.length === 0) return { fields, values: args.values }
  return { fields: [...fields, [key, stage.fields.find((f) => f.key === key)!]], values: { ...args.values, [key]: args.positionals[0] }, positional: key }
}

/** The parseArgs options of the stage's own flags: lists repeat, booleans take no value. */
function flagOptions(stage: StageDefinition): Options {
  const options: Options = {}
  for (const [flag, field] of flagFields(stage)) {
    options[flag] = field.type === 'bool' ? { type: 'boolean' } : field.type === 'string[]' ? { type: 'string', multiple: true } : { type: 'string' }
  }
  return options
}

/**
 * The config keys the flags set. Input paths must exist and become absolute, output paths become
 * absolute, run ids stay as they are (the worker's cwd differs), numbers are decimal.
 */
function flagValues(stage: StageDefinition, args: ParsedArgs): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  const { fields, values, positional } = withPositional(stage, args)
  for (const [flag, field] of fields) {
    const raw = values[flag]
    if (raw === undefined) continue
    if (field.pathKind === 'input') {
      const paths = existingPaths(raw, flag === positional ? `${stage.cli!.command}:` : `--${flag}`)!
      out[field.key] = field.type === 'string[]' ? paths : paths[0]
    } else if (field.pathKind === 'output') out[field.key] = path.resolve(raw as string)
    else if (field.pathKind === 'model') out[field.key] = absoluteIfPath(raw as string)
    else if (field.pathKind === 'dataset') out[field.key] = Array.isArray(raw) ? raw.map(fileOrRunId) : fileOrRunId(raw as string)
    else if (field.type === 'int' || field.type === 'float') {
      const value = parseText(field, raw as string)
      if (typeof value !== 'number' || (field.type === 'int' && !Number.isInteger(value))) {
        throw new UsageError(`${stage.cli!.command}: --${flag} must be ${field.type === 'int' ? 'a whole number' : 'a number'}, got "${raw as string}"`)
      }
      out[field.key] = value
    } else out[field.key] = raw
  }
  return out
}

/** A dataset reference ("ref" or "ref@weight"): an existing file becomes absolute (the worker's cwd differs), anything else is a run id. */
function fileOrRunId(entry: string): string {
  const { ref } = parseDatasetRef(entry)
  return fs.existsSync(ref) && fs.statSync(ref).isFile() ? path.resolve(ref) + entry.slice(ref.length) : entry
}

export function commonHelp(): string {
  return [
    'Options:',
    '  --home DIR          workbench home (default: WORKBENCH_HOME or the per-user app-data folder)',
    '  --backend NAME      auto | node-gpu | webgpu | node | wasm | cpu (default: WORKBENCH_BACKEND or auto)',
    '  --config FILE.json  config keys from a JSON file',
    '  --set KEY=VALUE     override one config key (repeatable); unknown keys and wrong types are errors',
    '  --preset NAME       start from a named preset of this stage',
    '  --name NAME         a name for the run;  --experiment NAME  group it in an experiment',
    '  --json              one JSON object per logged step and evaluation, then a summary object',
    '  -h, --help          this help',
  ].join('\n')
}
