// Command-line parsing shared by every command: node's util.parseArgs (strict, so an unknown
// option is an error), the options all commands have, and turning presets + a config file +
// command flags + `--set key=value` into one validated stage config.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { parseOverride, resolveConfig, type ResolvedConfig } from '../config/schema'
import type { StageDefinition } from '../train/stages/types'

/** A mistake in how the command was called: printed as one message with a hint, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

type Options = NonNullable<ParseArgsConfig['options']>

/** Options every command accepts. */
export const COMMON_OPTIONS: Options = {
  help: { type: 'boolean', short: 'h' },
  home: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
}

/** Options of commands that start a run. */
export const RUN_OPTIONS: Options = {
  ...COMMON_OPTIONS,
  config: { type: 'string' },
  set: { type: 'string', multiple: true },
  preset: { type: 'string' },
  name: { type: 'string' },
  experiment: { type: 'string' },
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>
  positionals: string[]
}

/** Parses argv strictly; an unknown option or a missing value becomes a UsageError. */
export function parseCommandArgs(argv: string[], options: Options, command: string): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
    return { values: values as ParsedArgs['values'], positionals }
  } catch (err) {
    throw new UsageError(`${command}: ${(err as Error).message} (see \`workbench ${command} --help\`)`)
  }
}

/** Reads a JSON config file: it must hold one JSON object. */
export function readConfigFile(file: string): Record<string, unknown> {
  const full = path.resolve(file)
  let text: string
  try {
    text = fs.readFileSync(full, 'utf8')
  } catch (err) {
    throw new UsageError(`--config ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`--config ${file}: not valid JSON (${(err as Error).message})`)
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--config ${file}: expected a JSON object of config keys`)
  }
  return parsed as Record<string, unknown>
}

/**
 * The config of a run, lowest priority first: the stage preset (--preset), the config file
 * (--config), the command's own flags (e.g. --data), then each `--set key=value`. Unknown keys
 * and wrong types anywhere are errors naming the key.
 */
export function buildStageConfig(
  stage: StageDefinition,
  args: ParsedArgs,
  fromFlags: Record<string, unknown> = {},
): ResolvedConfig {
  const merged: Record<string, unknown> = {}
  const presetName = args.values.preset as string | undefined
  if (presetName !== undefined) {
    const preset = stage.presets?.[presetName]
    if (!preset) {
      const known = Object.keys(stage.presets ?? {}).join(', ') || 'none'
      throw new UsageError(`--preset ${presetName}: unknown preset for ${stage.name} (known: ${known})`)
    }
    Object.assign(merged, preset)
  }
  const configFile = args.values.config as string | undefined
  if (configFile !== undefined) Object.assign(merged, readConfigFile(configFile))
  for (const [key, value] of Object.entries(fromFlags)) if (value !== undefined) merged[key] = value
  for (const assignment of (args.values.set as string[] | undefined) ?? []) {
    const [key, value] = parseOverride(stage.fields, assignment)
    merged[key] = value
  }
  return resolveConfig(stage.schema, merged, `${stage.name} config`)
}

/** Help text for a stage's config keys, one per line, for `--help`. */
export function describeFields(stage: StageDefinition): string {
  const lines = stage.fields.map((f) => {
    const type = f.type === 'enum' ? (f.choices ?? []).join('|') : f.type
    const dflt = f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : f.required ? ' (required)' : ''
    return `  ${f.key.padEnd(18)} ${type.padEnd(8)} ${f.help}${dflt}`
  })
  const presets = Object.keys(stage.presets ?? {})
  return ['Config keys (--set key=value, or a --config file.json):', ...lines, presets.length ? `Presets (--preset): ${presets.join(', ')}` : '']
    .filter((l) => l !== '')
    .join('\n')
}

/** Absolute paths of --data style options; a path that does not exist is an error before any run starts. */
export function existingPaths(values: unknown, flag: string): string[] | undefined {
  if (values === undefined) return undefined
  const list = Array.isArray(values) ? (values as string[]) : [values as string]
  return list.map((p) => {
    const full = path.resolve(p)
    if (!fs.existsSync(full)) throw new UsageError(`${flag} ${p}: no such file or folder`)
    return full
  })
}

/** A run id stays as it is; anything that looks like a path becomes absolute (the worker's cwd differs). */
export function absoluteIfPath(ref: string): string {
  return ref.includes('/') || ref.includes('\\') || ref.startsWith('.') ? path.resolve(ref) : ref
}
