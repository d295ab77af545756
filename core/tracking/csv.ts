// Minimal RFC 4180 CSV writing: quote a field when it holds a comma, quote or line break.

export function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'string' ? value : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function csvLine(fields: unknown[]): string {
  return fields.map(csvField).join(',') + '\n'
}
