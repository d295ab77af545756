// Every data problem becomes a DataError that says where: the file, the line (JSONL) or item
// (a .json array), and the field, so the user can fix the input instead of reading a stack trace
// from deep inside training.

export interface Where {
  file: string
  /** 1-based line of a JSONL or text file. */
  line?: number
  /** 0-based index in a .json array. */
  item?: number
  /** Field path, e.g. "messages[2].content". */
  field?: string
}

export class DataError extends Error {
  constructor(
    readonly where: Where,
    readonly detail: string,
  ) {
    super(`${describeWhere(where)}: ${detail}`)
    this.name = 'DataError'
  }
}

export function describeWhere(where: Where): string {
  let text = where.file
  if (where.line !== undefined) text += `:${where.line}`
  if (where.item !== undefined) text += ` item ${where.item}`
  if (where.field !== undefined) text += `: field "${where.field}"`
  return text
}

/** Lines or items skipped with `skipInvalid`, with the first few reasons kept for the log. */
export interface SkipReport {
  count: number
  /** Up to 20 messages like `data.jsonl:7: field "output": missing`. */
  examples: string[]
}

export function newSkipReport(): SkipReport {
  return { count: 0, examples: [] }
}

export function recordSkip(report: SkipReport, err: unknown): void {
  report.count++
  if (report.examples.length < 20) report.examples.push(err instanceof Error ? err.message : String(err))
}
