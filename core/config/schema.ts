// Stage configs. Each stage declares its config as ONE strict zod object whose properties carry
// `.meta({ help, group, path })`; cross-field rules live in the object's superRefine. Everything
// else is derived from it:
//   - resolveConfig(): defaults filled, every problem reported at once as a ConfigError whose lines
//     name the key, what was expected and what was given (the same text in the CLI, API and app);
//   - fieldsOf(): the plain ConfigField list that `--set` parsing, `--help` and the app's forms use
//     (the renderer only needs these plain objects, and checkValue() for per-field checks).
import { z } from 'zod'
import type { DataFormat } from '../data/formats'

export type FieldType = 'int' | 'float' | 'bool' | 'string' | 'enum' | 'path' | 'string[]'

/**
 * What a string (or list of strings) names on disk, so every consumer can apply the same rules:
 * 'input' a file or folder the run reads (must exist), 'output' a file the run writes, 'model' a
 * run id or a checkpoint folder, 'dataset' a dataset run id or a file the run reads, with an optional
 * `@weight` suffix (an existing file becomes absolute, anything else stays a run id).
 */
export type PathKind = 'input' | 'output' | 'model' | 'dataset'

/** The metadata a config property carries with `.meta(...)`. */
export interface FieldMeta {
  help: string
  /** Form section in the app, e.g. "model", "optimiser", "data". */
  group?: string
  path?: PathKind
  /** The kind of data file the field reads: the app's pickers offer only files of that kind. */
  data?: DataFormat
}

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
  /** Set when the value names something on disk (see PathKind). */
  pathKind?: PathKind
  /** The kind of data file the field reads (see DataFormat). */
  dataFormat?: DataFormat
}

/** A stage's config schema: a strict zod object (possibly with cross-field rules). */
export type ConfigSchema = z.ZodObject

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

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Fills defaults and validates against the schema, cross-field rules included. Unknown keys,
 * wrong types, out-of-range values and missing required keys all become issues, reported at once.
 */
export function resolveConfig<S extends ConfigSchema>(schema: S, input: Record<string, unknown>, where = 'config'): z.output<S> {
  // An explicit `undefined` means "not given" (the CLI passes absent flags that way).
  const given = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined))
  const result = schema.safeParse(given)
  if (result.success) return result.data
  const known = Object.keys(schema.shape)
  const issues: ConfigIssue[] = result.error.issues.flatMap((issue): ConfigIssue[] => {
    if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ key, message: unknownKeyMessage(known) }))
    const key = issue.path.length > 0 ? String(issue.path[0]) : 'config'
    return [{ key, message: issueMessage(issue, given[key]) }]
  })
  throw new ConfigError(issues, where)
}

/** The message for one zod issue in the workbench's words: what was expected, what was given. */
function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required'
      if (issue.expected === 'int') return `expected an integer, got ${describe(value)}`
      if (issue.expected === 'number') return `expected a number, got ${describe(value)}`
      if (issue.expected === 'boolean') return `expected true or false, got ${describe(value)}`
      if (issue.expected === 'string') return Array.isArray(value) ? `expected a list of strings, got ${describeList(value)}` : `expected a string, got ${describe(value)}`
      if (issue.expected === 'array') return `expected a list of strings, got ${describe(value)}`
      return `expected ${issue.expected}, got ${describe(value)}`
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${issue.minimum} ${issue.minimum === 1 ? 'entry' : 'entries'}, got ${(value as unknown[]).length}`
      return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}, got ${describe(value)}`
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}, got ${describe(value)}`
    case 'invalid_value':
      return `expected one of ${issue.values.join(', ')}, got ${describe(value)}`
    default:
      return issue.message
  }
}

function unknownKeyMessage(known: string[]): string {
  return `unknown key (known keys: ${known.join(', ')})`
}

/** Checks one value against its field; returns a message, or null when it is fine (the app's forms). */
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

// ---------------------------------------------------------------------------------------------
// The field list, derived from the schema

/** The plain field list of a schema, in declaration order. Every property must carry `.meta({ help })`. */
export function fieldsOf(schema: ConfigSchema): ConfigField[] {
  return Object.entries(schema.shape).map(([key, property]) => fieldOf(key, property as z.ZodType))
}

function fieldOf(key: string, property: z.ZodType): ConfigField {
  let inner = property
  let dflt: unknown
  let optional = false
  let meta = property.meta() as FieldMeta | undefined
  // Unwrap .default(...) and .optional(), picking up the metadata wherever it was attached.
  for (;;) {
    if (inner instanceof z.ZodDefault) dflt = inner.def.defaultValue
    else if (inner instanceof z.ZodOptional) optional = true
    else break
    inner = inner.def.innerType as z.ZodType
    meta ??= inner.meta() as FieldMeta | undefined
  }
  if (!meta?.help) throw new Error(`config key "${key}" has no help text: declare it with .meta({ help: '...' })`)
  const field: ConfigField = { key, help: meta.help, ...typeOf(key, inner, meta) }
  if (meta.group !== undefined) field.group = meta.group
  if (meta.path !== undefined) field.pathKind = meta.path
  if (meta.data !== undefined) field.dataFormat = meta.data
  if (dflt !== undefined) field.default = dflt
  else if (optional) field.optional = true
  else field.required = true
  return field
}

function typeOf(key: string, schema: z.ZodType, meta: FieldMeta): Pick<ConfigField, 'type' | 'min' | 'max' | 'choices'> {
  if (schema instanceof z.ZodNumber) {
    const out: Pick<ConfigField, 'type' | 'min' | 'max'> = { type: schema.format === 'safeint' ? 'int' : 'float' }
    // Integers carry the safe-integer range as bounds: only a bound the stage chose is shown.
    if (schema.minValue !== null && Math.abs(schema.minValue) < Number.MAX_SAFE_INTEGER) out.min = schema.minValue
    if (schema.maxValue !== null && Math.abs(schema.maxValue) < Number.MAX_SAFE_INTEGER) out.max = schema.maxValue
    return out
  }
  if (schema instanceof z.ZodBoolean) return { type: 'bool' }
  if (schema instanceof z.ZodEnum) return { type: 'enum', choices: schema.options.map(String) }
  if (schema instanceof z.ZodString) return { type: meta.path === 'input' || meta.path === 'output' ? 'path' : 'string' }
  if (schema instanceof z.ZodArray && schema.element instanceof z.ZodString) return { type: 'string[]' }
  throw new Error(`config key "${key}": only numbers, booleans, strings, enums and lists of strings can be config fields`)
}

// ---------------------------------------------------------------------------------------------
// Text from the command line

/** Parses the text of `--set key=value` into a typed value for that field. */
export function parseOverride(fields: ConfigField[], assignment: string): [string, unknown] {
  const eq = assignment.indexOf('=')
  if (eq <= 0) throw new ConfigError([{ key: assignment, message: 'expected key=value' }], '--set')
  const key = assignment.slice(0, eq).trim()
  const text = assignment.slice(eq + 1).trim()
  const field = fields.find((f) => f.key === key)
  if (!field) throw new ConfigError([{ key, message: unknownKeyMessage(fields.map((f) => f.key)) }], '--set')
  const value = parseText(field, text)
  const problem = checkValue(field, value)
  if (problem) throw new ConfigError([{ key, message: problem }], '--set')
  return [key, value]
}

/** Decimal numbers only: 1, -2, 0.5, 1e-3. Hex, octal, binary, "Infinity" and blanks are not numbers here. */
const DECIMAL = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/

/** A field's value from text: numbers are decimal; anything unparsable stays text, for checkValue to name. */
export function parseText(field: ConfigField, text: string): unknown {
  switch (field.type) {
    case 'int':
    case 'float':
      return DECIMAL.test(text) ? Number(text) : text
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

function describeList(value: unknown[]): string {
  const bad = value.find((v) => typeof v !== 'string')
  return `a list holding ${describe(bad)}`
}
