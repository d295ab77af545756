// The runs table's search box. Every word must match (AND):
//   lr=3e-4          a config value (any dotted path ending in "lr"); numbers compare as numbers,
//                    so 3e-4 finds 0.0003; text compares whole, ignoring case
//   n_layers:4       the same, except that text matches when the value contains it (data:animals)
//   lr<1e-3  steps>=100  != too   numeric comparisons
//   eval/loss<3.2    a final metric; name=, stage=, status=, experiment=, tag=, notes=, id= work too
//   0.0003  animals  a plain word: the name, id, stage, status, experiment, tags, notes, any config
//                    key or any config value (numbers again by value)
// Quotes keep spaces: name:"my run". A half-typed term (lr=) matches runs that have the key.
import type { RunSummary } from '../../../electron/shared/api'
import { flattenConfig, type ConfigValue } from './configPaths'

export type SearchRun = Pick<RunSummary, 'id' | 'name' | 'stage' | 'status' | 'experiment' | 'tags' | 'latest' | 'config' | 'notes'>

export type SearchOp = '=' | ':' | '!=' | '<' | '<=' | '>' | '>='

export type SearchTerm = { kind: 'text'; text: string } | { kind: 'field'; key: string; op: SearchOp; value: string }

/** Run fields a term can name besides config keys and metrics. */
const RUN_FIELDS = ['name', 'id', 'stage', 'status', 'experiment', 'tag', 'tags', 'notes'] as const

/** The terms of a query, in order; quotes removed. */
export function parseSearch(query: string): SearchTerm[] {
  const words = query.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []
  return words.map((word): SearchTerm => {
    const m = /^([^=:<>!"]+?)(<=|>=|!=|=|:|<|>)(.*)$/.exec(word)
    if (!m) return { kind: 'text', text: unquote(word) }
    return { kind: 'field', key: unquote(m[1]), op: m[2] as SearchOp, value: unquote(m[3]) }
  }).filter((t) => (t.kind === 'text' ? t.text !== '' : true))
}

function unquote(s: string): string {
  return s.replace(/"/g, '')
}

/** The runs that match every term of the query (all runs for an empty query). */
export function searchRuns<R extends SearchRun>(runs: R[], query: string): R[] {
  const terms = parseSearch(query)
  if (terms.length === 0) return runs
  return runs.filter((run) => terms.every((term) => termMatches(run, term)))
}

function termMatches(run: SearchRun, term: SearchTerm): boolean {
  if (term.kind === 'text') return textMatches(run, term.text)
  const values = fieldValues(run, term.key)
  if (values.length === 0) return false
  if (term.value === '') return true // still typing: the run has the key
  if (term.op === '!=') return values.every((v) => !valueMatches(v, '=', term.value))
  return values.some((v) => valueMatches(v, term.op, term.value))
}

/** Every value a term's key can name in this run: config paths equal to it or ending in ".key", a metric, a run field. */
function fieldValues(run: SearchRun, key: string): ConfigValue[] {
  const wanted = key.toLowerCase()
  const out: ConfigValue[] = []
  for (const [path, value] of Object.entries(flattenConfig(run.config ?? {}))) {
    const p = path.toLowerCase()
    if (p === wanted || p.endsWith('.' + wanted)) out.push(value)
  }
  for (const [metric, value] of Object.entries(run.latest)) if (metric.toLowerCase() === wanted) out.push(value)
  if ((RUN_FIELDS as readonly string[]).includes(wanted)) out.push(runField(run, wanted))
  return out
}

function runField(run: SearchRun, field: string): ConfigValue {
  if (field === 'tag' || field === 'tags') return run.tags
  return (run as unknown as Record<string, string | undefined>)[field] ?? ''
}

/** A number the user typed, or null when the text is not one. */
export function parseNumber(text: string): number | null {
  if (text.trim() === '') return null
  const n = Number(text)
  return Number.isFinite(n) ? n : null
}

/** Equal up to rounding: 0.1 + 0.2 finds 0.3, 3e-4 finds 0.0003. */
export function sameNumber(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b))
}

function asNumber(v: ConfigValue): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  if (typeof v === 'string') return parseNumber(v)
  return null
}

function valueMatches(actual: ConfigValue, op: SearchOp, text: string): boolean {
  if (Array.isArray(actual)) return actual.some((item) => valueMatches(item as ConfigValue, op, text))
  if (actual === null || actual === undefined) return false
  const want = parseNumber(text)
  const have = asNumber(actual)
  if (want !== null && have !== null) {
    if (op === '=' || op === ':') return sameNumber(have, want)
    if (op === '<') return have < want && !sameNumber(have, want)
    if (op === '>') return have > want && !sameNumber(have, want)
    if (op === '<=') return have < want || sameNumber(have, want)
    if (op === '>=') return have > want || sameNumber(have, want)
  }
  const a = String(actual).toLowerCase()
  const t = text.toLowerCase()
  if (op === '=') return a === t
  if (op === ':') return a.includes(t)
  return false // an order on text, or on a value that is not a number
}

/** A plain word: anywhere in the run's fields, tags, notes, config keys or config values. */
function textMatches(run: SearchRun, text: string): boolean {
  const t = text.toLowerCase()
  const fields = [run.name, run.id, run.stage, run.status, run.experiment, run.notes ?? '', ...run.tags]
  if (fields.some((f) => f.toLowerCase().includes(t))) return true
  for (const [path, value] of Object.entries(flattenConfig(run.config ?? {}))) {
    if (path.toLowerCase().includes(t) || valueMatches(value, ':', text)) return true
  }
  return false
}
