// Turning a stage's ConfigField list into form state and back. The form keeps what the user typed
// (text for numbers and lists) so a half-typed value is shown with its error instead of vanishing;
// toConfig() converts it to typed values and checks each with the same rules as the CLI.

import { checkValue, type ConfigField } from '../../../core/config/schema'

export type FormValues = Record<string, string | boolean>

export function initialValues(fields: ConfigField[], preset: Record<string, unknown> = {}): FormValues {
  const values: FormValues = {}
  for (const field of fields) {
    const value = field.key in preset ? preset[field.key] : field.default
    values[field.key] = toText(field, value)
  }
  return values
}

function toText(field: ConfigField, value: unknown): string | boolean {
  if (field.type === 'bool') return value === true
  if (value === undefined || value === null) return ''
  if (Array.isArray(value)) return value.join(', ')
  return String(value)
}

/** Typed config plus a message per field that does not pass. Empty optional fields are left out. */
export function toConfig(fields: ConfigField[], values: FormValues): { config: Record<string, unknown>; errors: Record<string, string> } {
  const config: Record<string, unknown> = {}
  const errors: Record<string, string> = {}
  for (const field of fields) {
    const raw = values[field.key]
    if (raw === '' || raw === undefined) {
      if (field.required) errors[field.key] = 'is required'
      continue
    }
    const value = fromText(field, raw)
    const problem = checkValue(field, value)
    if (problem) errors[field.key] = problem
    else config[field.key] = value
  }
  return { config, errors }
}

function fromText(field: ConfigField, raw: string | boolean): unknown {
  if (field.type === 'bool') return raw
  const text = String(raw).trim()
  switch (field.type) {
    case 'int':
    case 'float':
      return Number.isNaN(Number(text)) ? text : Number(text)
    case 'string[]':
      return text === '' ? [] : text.split(',').map((s) => s.trim()).filter(Boolean)
    default:
      return text
  }
}

/** Groups fields by their `group`, keeping the stage's order. */
export function groupFields(fields: ConfigField[]): { group: string; fields: ConfigField[] }[] {
  const groups: { group: string; fields: ConfigField[] }[] = []
  for (const field of fields) {
    const name = field.group ?? 'general'
    let g = groups.find((x) => x.group === name)
    if (!g) groups.push((g = { group: name, fields: [] }))
    g.fields.push(field)
  }
  return groups
}

/** Reads per-field messages out of a server ConfigError ("  - key: message" lines). */
export function fieldErrorsFromMessage(message: string, fields: ConfigField[]): Record<string, string> {
  const errors: Record<string, string> = {}
  for (const line of message.split('\n')) {
    const m = /^\s*-\s*([^:]+):\s*(.*)$/.exec(line)
    if (m && fields.some((f) => f.key === m[1].trim())) errors[m[1].trim()] = m[2]
  }
  return errors
}
