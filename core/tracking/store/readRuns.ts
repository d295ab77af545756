// Reading runs: resolving an id prefix, the filtered and sorted run list, and one run's details
// (params, tags, latest metrics, parents and children).

import type { Db } from '../db'
import { decodeValue } from '../values'
import { RUN_STATUSES, type RunDetails, type RunFilter, type RunStatus, type RunSummary } from '../types'
import { progressOf } from './progress'
import { escapeLike, rowToRun, runRow, RUN_SELECT, toRelative, unknownRun, type RunRow } from './rows'

/** Columns listRuns may sort by (never interpolate user text into SQL). */
const SORT_COLUMNS: Record<string, string> = {
  created: 'r.created_at',
  started: 'r.started_at',
  ended: 'r.ended_at',
  name: 'r.name',
  stage: 'r.stage',
  status: 'r.status',
}

/** The id of the run whose id equals or starts with this text (convenient on the command line). */
export function resolveRunId(db: Db, idOrPrefix: string): string {
  if (runRow(db, idOrPrefix)) return idOrPrefix
  const matches = db
    .prepare("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 5")
    .pluck(true)
    .all(escapeLike(idOrPrefix) + '%') as string[]
  if (matches.length === 1) return matches[0]
  if (matches.length === 0) throw unknownRun(idOrPrefix)
  throw new Error(`run id prefix "${idOrPrefix}" is ambiguous: ${matches.join(', ')}${matches.length === 5 ? ', ...' : ''}`)
}

/** The SQL of listRuns for this filter; throws on an invalid filter before the database is touched. */
export function runListQuery(filter: RunFilter): { sql: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  if (filter.stage) {
    where.push('r.stage = ?')
    args.push(filter.stage)
  }
  if (filter.status) {
    if (!RUN_STATUSES.includes(filter.status)) throw new Error(`unknown status "${filter.status}" (${RUN_STATUSES.join(', ')})`)
    where.push('r.status = ?')
    args.push(filter.status)
  }
  if (filter.experiment) {
    where.push('e.name = ?')
    args.push(filter.experiment)
  }
  if (filter.tag) {
    const eq = filter.tag.indexOf('=')
    if (eq < 0) {
      where.push('EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = ?)')
      args.push(filter.tag)
    } else {
      where.push('EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.key = ? AND t.value = ?)')
      args.push(filter.tag.slice(0, eq), filter.tag.slice(eq + 1))
    }
  }
  if (filter.text) {
    const like = `%${escapeLike(filter.text)}%`
    const matches = (column: string) => `${column} LIKE ? ESCAPE '\\'`
    const inRun = ['r.id', 'r.name', 'r.stage', 'r.notes'].map(matches)
    const inTags = `EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND (${matches('t.key')} OR ${matches('t.value')}))`
    where.push(`(${[...inRun, inTags].join(' OR ')})`)
    args.push(like, like, like, like, like, like)
  }
  const order = filter.order === 'asc' ? 'ASC' : 'DESC'
  let join = ''
  let orderBy: string
  const sort = filter.sort ?? 'created'
  if (sort.startsWith('metric:')) {
    join = 'LEFT JOIN latest_metrics sm ON sm.run_id = r.id AND sm.key = ?'
    args.unshift(sort.slice('metric:'.length))
    // Runs without the metric (or with NaN) go last either way.
    orderBy = `(sm.value IS NULL), sm.value ${order}`
  } else {
    const column = SORT_COLUMNS[sort]
    if (!column) throw new Error(`cannot sort runs by "${sort}" (use ${Object.keys(SORT_COLUMNS).join(', ')} or metric:<key>)`)
    orderBy = `${column} ${order}`
  }
  if (filter.limit !== undefined && !(Number.isInteger(filter.limit) && filter.limit >= 0)) {
    throw new Error(`listRuns: limit must be a whole number >= 0, got ${filter.limit}`)
  }
  args.push(filter.limit ?? -1) // -1: no limit
  const sql = `${RUN_SELECT} ${join} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
    ORDER BY ${orderBy}, r.id ${order} LIMIT ?`
  return { sql, args }
}

export function listRuns(db: Db, query: { sql: string; args: unknown[] }): RunSummary[] {
  return summarise(db, db.prepare(query.sql).all(...query.args) as RunRow[])
}

/** A run with its params, tags, latest metrics, parents and children. */
export function getRun(db: Db, id: string): RunDetails {
  const row = runRow(db, id)
  if (!row) throw unknownRun(id)
  const [summary] = summarise(db, [row])
  const params: Record<string, string | number | boolean> = {}
  for (const p of db.prepare('SELECT key, value FROM params WHERE run_id = ? ORDER BY key').all(id) as { key: string; value: string }[]) {
    params[p.key] = JSON.parse(p.value)
  }
  const relatives = (sql: string) =>
    (db.prepare(sql).all(id) as { id: string; role: string; name: string | null; stage: string | null; status: RunStatus | null }[]).map(toRelative)
  return {
    ...summary,
    params,
    parents: relatives(
      'SELECT p.parent_id AS id, p.role, r.name, r.stage, r.status FROM run_parents p LEFT JOIN runs r ON r.id = p.parent_id WHERE p.run_id = ? ORDER BY p.role',
    ),
    children: relatives(
      'SELECT p.run_id AS id, p.role, r.name, r.stage, r.status FROM run_parents p JOIN runs r ON r.id = p.run_id WHERE p.parent_id = ? ORDER BY r.created_at, r.id',
    ),
  }
}

/** Adds tags, latest metrics and progress to run rows, with one query each for all of them. */
function summarise(db: Db, rows: RunRow[]): RunSummary[] {
  const ids = JSON.stringify(rows.map((r) => r.id))
  const byId = new Map<string, RunSummary>(rows.map((r) => [r.id, { ...rowToRun(r), tags: {}, metrics: {} }]))
  const tags = db.prepare('SELECT run_id, key, value FROM tags WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY key').all(ids) as {
    run_id: string
    key: string
    value: string
  }[]
  for (const t of tags) byId.get(t.run_id)!.tags[t.key] = t.value
  const latest = db
    .prepare('SELECT run_id, key, value, value_kind FROM latest_metrics WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY key')
    .all(ids) as { run_id: string; key: string; value: number | null; value_kind: number }[]
  for (const m of latest) byId.get(m.run_id)!.metrics[m.key] = decodeValue(m.value, m.value_kind)
  for (const [runId, progress] of progressOf(db, [...byId.keys()])) byId.get(runId)!.progress = progress
  return [...byId.values()]
}
