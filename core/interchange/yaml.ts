// A small YAML writer for the flat and nested maps of a training config (strings, numbers,
// booleans, lists of scalars, nested maps). Strings are always double-quoted JSON strings, which
// are valid YAML, so no value is ever misread (e.g. "no", "1e-5", "on").
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue }

export function toYaml(map: Record<string, unknown>, indent = ''): string {
  const lines: string[] = []
  for (const [key, value] of Object.entries(map)) {
    if (value === undefined) continue
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      lines.push(`${indent}${key}:`, toYaml(value as Record<string, unknown>, indent + '  ').trimEnd())
    } else if (Array.isArray(value)) {
      lines.push(`${indent}${key}: [${value.map(scalar).join(', ')}]`)
    } else {
      lines.push(`${indent}${key}: ${scalar(value)}`)
    }
  }
  return lines.join('\n') + '\n'
}

function scalar(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`YAML: ${value} is not a finite number`)
    // YAML 1.1 readers (PyYAML) want a dot in a float with an exponent ("1.0e-05").
    const text = String(value)
    return /e/.test(text) && !/\./.test(text) ? text.replace('e', '.0e') : text
  }
  if (typeof value === 'string') return JSON.stringify(value)
  throw new Error(`YAML: cannot write ${typeof value} values`)
}
