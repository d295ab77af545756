// A small, explicit config schema: a list of fields. One list drives three things:
// validation of a config (unknown keys and wrong types are errors), parsing of `--set key=value`
// on the command line, and the form the app generates for a stage.

export type FieldType = 'int' | 'float' | 'bool' | 'string' | 'enum' | 'path' | 'string[]'

/**
 * What a path-like field points at, so the API can apply its path policy to every such field
 * (electron/server/pathPolicy.ts): 'input' a file or folder a run reads, 'output' a place it
 * writes, 'checkpoint' a run id or a checkpoint folder. `type: 'path'` fields default to 'input'.
 */
export type PathKind = 'input' | 'output' | 'checkpoint'

export interface ConfigField {
  key: string
  type: FieldType
  /** Used when the key is absent. `undefined` with `optional` means "not set". */
  default?: unknown
  help: string
  min?: number
  max?: number
  /** Allowed values for `enum`. */
  choices?: string[]
  /** Form section in the app, e.g. "model", "optimiser", "data". */
  group?: string
  /** May be left unset (no default, not required). */
  optional?: boolean
  /** Must be given by the user (no default makes sense, e.g. a data path). */
  required?: boolean
  /** Declares the field (or each item of a string[]) as a path; see PathKind. */
  pathKind?: PathKind
}

export interface ConfigIssue {
  key: string
  message: string
}

export class ConfigError extends Error {
  constructor(
    readonly issues: ConfigIssue[],
    readonly where = 'config',
  ) {
    super(`invalid ${where}:\n` + issues.map((i) => `  - ${i.key}: ${i.message}`).join('\n'))
    this.name = 'ConfigError'
  }
}

export type ResolvedConfig = Record<string, unknown>

/** Checks one value against its field; returns a message, or null when it is fine. */
export function checkValue(field: ConfigField, value: unknown): string | null {
  switch (field.type) {
    case 'int':
    case 'float': {
      if (typeof value !== 'number' || !Number.isFinite(value)) return `expected a number, got ${describe(value)}`
      if (field.type === 'int' && !Number.isInteger(value)) return `expected an integer, got ${value}`
      if (field.min !== undefined && value < field.min) return `must be >= ${field.min}, got ${value}`
      if (field.max !== undefined && value > field.max) return `must be <= ${field.max}, got ${value}`
      return null
    }
    case 'bool':
      return typeof value === 'boolean' ? null : `expected true or false, got ${describe(value)}`
    case 'string':
    case 'path':
      return typeof value === 'string' ? null : `expected a string, got ${describe(value)}`
    case 'enum':
      return typeof value === 'string' && field.choices?.includes(value)
        ? null
        : `expected one of ${field.choices?.join(', ')}, got ${describe(value)}`
    case 'string[]':
      return Array.isArray(value) && value.every((v) => typeof v === 'string')
        ? null
        : `expected a list of strings, got ${describe(value)}`
  }
}

/**
 * Fills defaults and validates. Unknown keys, wrong types, out-of-range values and missing
 * required keys all become issues; every issue is reported at once.
 */
export function resolveConfig(fields: ConfigField[], input: Record<string, unknown>, where = 'config'): ResolvedConfig {
  const byKey = new Map(fields.map((f) => [f.key, f]))
  const issues: ConfigIssue[] = []
  for (const key of Object.keys(input)) {
    if (!byKey.has(key)) issues.push({ key, message: `unknown key (known keys: ${[...byKey.keys()].join(', ')})` })
  }
  const out: ResolvedConfig = {}
  for (const field of fields) {
    const given = Object.prototype.hasOwnProperty.call(input, field.key) && input[field.key] !== undefined
    const value = given ? input[field.key] : field.default
    if (value === undefined || value === null) {
      if (field.required) issues.push({ key: field.key, message: 'is required' })
      continue
    }
    const problem = checkValue(field, value)
    if (problem) issues.push({ key: field.key, message: problem })
    else out[field.key] = value
  }
  if (issues.length > 0) throw new ConfigError(issues, where)
  return out
}

/** Parses the text of `--set key=value` into a typed value for that field. */
export function parseOverride(fields: ConfigField[], assignment: string): [string, unknown] {
  const eq = assignment.indexOf('=')
  if (eq <= 0) throw new ConfigError([{ key: assignment, message: 'expected key=value' }], '--set')
  const key = assignment.slice(0, eq).trim()
  const text = assignment.slice(eq + 1).trim()
  const field = fields.find((f) => f.key === key)
  if (!field) {
    throw new ConfigError([{ key, message: `unknown key (known keys: ${fields.map((f) => f.key).join(', ')})` }], '--set')
  }
  const value = parseText(field, text)
  const problem = checkValue(field, value)
  if (problem) throw new ConfigError([{ key, message: problem }], '--set')
  return [key, value]
}

function parseText(field: ConfigField, text: string): unknown {
  switch (field.type) {
    case 'int':
    case 'float':
      return text === '' || Number.isNaN(Number(text)) ? text : Number(text)
    case 'bool':
      return text === 'true' ? true : text === 'false' ? false : text
    case 'string[]':
      return text === '' ? [] : text.split(',').map((s) => s.trim())
    default:
      return text
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`
  if (Array.isArray(value)) return 'a list'
  if (value === null) return 'null'
  return typeof value === 'object' ? 'an object' : String(value)
}
