// The experiment store: every run, metric, artifact and lineage link of a workbench home, in one
// SQLite database (see migrations.ts for the schema). The store is the one owner of run status
// transitions: queued -> running -> finished | failed | stopped | interrupted.

import fs from 'node:fs'
import path from 'node:path'
import { dbPath, runDir } from './home'
import { closeDatabase, openDatabase, type Db } from './db'
import { newRunId } from './ids'
import { fingerprint } from './hash'
import { currentHost, ownerGoneReason, queuedOwnerGoneReason } from './liveness'
import { diffConfigs, flattenConfig, metricDirection } from './compare'
import { SeriesReader } from './series'
import { csvLine } from './csv'
import { decodeValue, encodeValue, numberForJson } from './values'
import {
  RUN_STATUSES,
  type ArtifactRecord,
  type ExperimentRecord,
  type Lineage,
  type LineageEdge,
  type LineageNode,
  type MetricComparison,
  type MetricPoint,
  type MetricSeries,
  type RunComparison,
  type RunDetails,
  type RunFilter,
  type RunRecord,
  type RunRelative,
  type RunStatus,
  type RunSummary,
  type SeriesQuery,
  type StoredArtifact,
  type StoredEvent,
  type StoredSample,
} from './types'

export interface StoreOptions {
  /** A 'running' run whose last heartbeat is older than this is considered dead. Default 30 min. */
  staleAfterMs?: number
  /** How often listRuns/getRun re-check that running runs still have a live process. Default 2 s. */
  recheckEveryMs?: number
}

export interface CreateRunInput {
  /** Experiment name; created when missing. Default 'default'. */
  experiment?: string
  name?: string
  stage: string
  config: Record<string, unknown>
  parents?: { runId: string; role: string }[]
  backend?: object
  seed?: number
  /** 'queued' (default), or 'running' when this very process is the one that runs it. */
  status?: 'queued' | 'running'
}

export interface RunOwner {
  pid: number
  hostname: string
  /** Set when the backend is only known once the run starts. */
  backend?: object
}

/** One buffered write from a tracker, committed as one transaction. */
export interface RecordBatch {
  metrics?: { step: number; key: string; value: number; wallTime: number }[]
  /** seq: the event's order among those of its (step, kind) in this process; a replay reuses it (replaces). */
  events?: { kind: string; message: string; data?: unknown; step?: number; seq?: number; time: number }[]
  /** seq: the sample's order among those of its step; a replay reuses it (replaces). */
  samples?: { step: number; prompt: string; response: string; scores?: Record<string, number>; seq?: number; time: number }[]
}

export interface DeleteResult {
  runId: string
  /** Files and folders removed from the home. */
  deletedPaths: string[]
}

/** Thrown by deleteRun when other runs descend from the run and force was not given. */
export class RunHasChildrenError extends Error {
  constructor(
    readonly runId: string,
    readonly children: RunRelative[],
  ) {
    const names = children.map((c) => `${c.runId}${c.name ? ` (${c.stage} "${c.name}")` : ''}`).join(', ')
    super(
      `run ${runId} has ${children.length} run(s) descending from it: ${names}. ` +
        `Deleting it removes its files (checkpoints they may start from) and leaves them with a deleted parent; ` +
        `pass force to delete anyway.`,
    )
    this.name = 'RunHasChildrenError'
  }
}

const DEFAULT_STALE_AFTER_MS = 30 * 60 * 1000
const DEFAULT_MAX_POINTS = 2000
const DEFAULT_RECHECK_EVERY_MS = 2000

/** Which statuses each transition may start from. */
const START_FROM: readonly RunStatus[] = ['queued', 'stopped', 'interrupted', 'failed']
const FINISH_FROM: readonly RunStatus[] = ['queued', 'running', 'interrupted']

/** Columns listRuns may sort by (never interpolate user text into SQL). */
const SORT_COLUMNS: Record<string, string> = {
  created: 'r.created_at',
  started: 'r.started_at',
  ended: 'r.ended_at',
  name: 'r.name',
  stage: 'r.stage',
  status: 'r.status',
}

interface RunRow {
  id: string
  experiment_id: number
  experiment: string
  name: string
  stage: string
  status: RunStatus
  config: string
  backend: string | null
  seed: number | null
  created_at: number
  started_at: number | null
  ended_at: number | null
  error: string | null
  notes: string
  pid: number | null
  hostname: string | null
  heartbeat_at: number | null
}

const RUN_SELECT = 'SELECT r.*, e.name AS experiment FROM runs r JOIN experiments e ON e.id = r.experiment_id'

export class Store {
  private readonly series: SeriesReader
  private readonly insertMetric
  private readonly upsertLatest
  private readonly insertEvent
  private readonly insertSample
  private readonly touchHeartbeat
  private lastRecovery = 0

  private constructor(
    readonly home: string,
    readonly db: Db,
    private readonly staleAfterMs: number,
    private readonly recheckEveryMs: number,
  ) {
    this.series = new SeriesReader(db)
    this.insertMetric = db.prepare(
      'INSERT OR REPLACE INTO metrics (run_id, key, step, value, value_kind, wall_time) VALUES (?, ?, ?, ?, ?, ?)',
    )
    // The latest value is the one at the highest step (a replayed lower step does not win).
    this.upsertLatest = db.prepare(
      `INSERT INTO latest_metrics (run_id, key, step, value, value_kind, wall_time) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, value = excluded.value,
         value_kind = excluded.value_kind, wall_time = excluded.wall_time
       WHERE excluded.step >= latest_metrics.step`,
    )
    // OR REPLACE: a replayed step's event or sample (same step, kind, seq) replaces the first one.
    this.insertEvent = db.prepare('INSERT OR REPLACE INTO events (run_id, step, kind, seq, message, data, time) VALUES (?, ?, ?, ?, ?, ?, ?)')
    this.insertSample = db.prepare(
      'INSERT OR REPLACE INTO samples (run_id, step, seq, prompt, response, scores, time) VALUES (?, ?, ?, ?, ?, ?, ?)',
    )
    this.touchHeartbeat = db.prepare("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'")
  }

  /**
   * Opens the home's database (creating and migrating it when needed) and marks runs whose
   * process is gone as 'interrupted'.
   */
  static open(home: string, options: StoreOptions = {}): Store {
    const absHome = path.resolve(home)
    fs.mkdirSync(path.join(absHome, 'runs'), { recursive: true })
    const store = new Store(
      absHome,
      openDatabase(dbPath(absHome)),
      options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS,
      options.recheckEveryMs ?? DEFAULT_RECHECK_EVERY_MS,
    )
    store.recoverInterrupted()
    return store
  }

  close(): void {
    closeDatabase(this.db)
  }

  // ---------------------------------------------------------------- experiments

  createExperiment(name: string, description = ''): ExperimentRecord {
    const clean = requireText(name, 'experiment name')
    if (this.findExperiment(clean)) throw new Error(`experiment "${clean}" already exists`)
    this.db.prepare('INSERT INTO experiments (name, description, created_at) VALUES (?, ?, ?)').run(clean, description, Date.now())
    return this.findExperiment(clean)!
  }

  getOrCreateExperiment(name: string): ExperimentRecord {
    return this.findExperiment(requireText(name, 'experiment name')) ?? this.createExperiment(name)
  }

  listExperiments(): ExperimentRecord[] {
    const rows = this.db.prepare('SELECT * FROM experiments ORDER BY name').all() as ExperimentRow[]
    return rows.map(rowToExperiment)
  }

  private findExperiment(name: string): ExperimentRecord | undefined {
    const row = this.db.prepare('SELECT * FROM experiments WHERE name = ?').get(name) as ExperimentRow | undefined
    return row && rowToExperiment(row)
  }

  // ---------------------------------------------------------------- runs and status

  createRun(input: CreateRunInput): RunRecord {
    const stage = requireText(input.stage, 'stage')
    const status = input.status ?? 'queued'
    if (status !== 'queued' && status !== 'running') {
      throw new Error(`createRun: status must be 'queued' or 'running', got '${status}'`)
    }
    if (input.seed !== undefined && !Number.isSafeInteger(input.seed)) throw new Error(`createRun: seed must be an integer, got ${input.seed}`)
    const parents = input.parents ?? []
    const create = this.db.transaction((): string => {
      for (const p of parents) {
        if (!this.runRow(p.runId)) throw new Error(`createRun: parent run "${p.runId}" (role ${p.role}) does not exist`)
      }
      const experiment = this.getOrCreateExperiment(input.experiment ?? 'default')
      const now = Date.now()
      const id = this.unusedRunId(now)
      const running = status === 'running'
      this.db
        .prepare(
          `INSERT INTO runs (id, experiment_id, name, stage, status, config, backend, seed, created_at,
             started_at, pid, hostname, heartbeat_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          experiment.id,
          input.name?.trim() || `${stage}-${id.slice(-4)}`,
          stage,
          status,
          JSON.stringify(input.config ?? {}),
          input.backend === undefined ? null : JSON.stringify(input.backend),
          input.seed ?? null,
          now,
          running ? now : null,
          // A queued run is owned by this process (which starts its worker) until the worker
          // takes it over, so liveness recovery can tell when it will never start.
          process.pid,
          currentHost(),
          running ? now : null,
        )
      const link = this.db.prepare('INSERT OR IGNORE INTO run_parents (run_id, parent_id, role) VALUES (?, ?, ?)')
      for (const p of parents) link.run(id, p.runId, requireText(p.role, 'parent role'))
      return id
    })
    return this.getRunRecord(create.immediate())
  }

  /** queued (or stopped / interrupted / failed, when resuming) -> running, owned by pid on hostname. */
  startRun(id: string, owner: RunOwner): RunRecord {
    const now = Date.now()
    this.transition(id, 'running', START_FROM, () => {
      this.db
        .prepare(
          `UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?), ended_at = NULL, error = NULL,
             pid = ?, hostname = ?, heartbeat_at = ?, backend = coalesce(?, backend) WHERE id = ?`,
        )
        .run(now, owner.pid, owner.hostname, now, owner.backend === undefined ? null : JSON.stringify(owner.backend), id)
    })
    return this.getRunRecord(id)
  }

  /** Records that the owner is alive. Returns false when the run is no longer 'running'. */
  heartbeat(id: string): boolean {
    return this.touchHeartbeat.run(Date.now(), id).changes === 1
  }

  /**
   * running -> finished | failed | stopped. Also accepted from 'queued' (cancelled or failed before
   * it started) and from 'interrupted' (an owner that was presumed dead reports its real end).
   */
  finishRun(id: string, status: 'finished' | 'failed' | 'stopped', error?: string): RunRecord {
    if (!['finished', 'failed', 'stopped'].includes(status)) {
      throw new Error(`finishRun: status must be finished, failed or stopped, got '${status}'`)
    }
    this.transition(id, status, FINISH_FROM, () => {
      this.db.prepare('UPDATE runs SET status = ?, ended_at = ?, error = ? WHERE id = ?').run(status, Date.now(), error ?? null, id)
    })
    return this.getRunRecord(id)
  }

  /** running -> interrupted: the owner process died without reporting an end. */
  markInterrupted(id: string, reason = 'the run process ended without reporting a status'): RunRecord {
    this.transition(id, 'interrupted', ['running'], () => {
      // The end time is the last sign of life, which is closer to the truth than "now".
      this.db
        .prepare(
          "UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at, ?), error = ? WHERE id = ?",
        )
        .run(Date.now(), reason, id)
    })
    return this.getRunRecord(id)
  }

  /**
   * Marks every 'running' run whose owner is gone, and every 'queued' run whose queuing process
   * is gone (it would never start), as 'interrupted' (resumable). Returns their ids.
   */
  recoverInterrupted(): string[] {
    const rows = this.db.prepare("SELECT * FROM runs WHERE status IN ('running', 'queued')").all() as RunRow[]
    const marked: string[] = []
    this.lastRecovery = Date.now()
    for (const row of rows) {
      const reason =
        row.status === 'running'
          ? ownerGoneReason({ pid: row.pid, hostname: row.hostname, heartbeatAt: row.heartbeat_at, startedAt: row.started_at }, this.staleAfterMs)
          : queuedOwnerGoneReason({ pid: row.pid, hostname: row.hostname, createdAt: row.created_at }, this.staleAfterMs)
      if (reason === null) continue
      // The guard on status makes this safe against the owner finishing (or starting) at the same moment.
      const changed = this.db
        .prepare(
          "UPDATE runs SET status = 'interrupted', ended_at = coalesce(heartbeat_at, started_at, ?), error = ? WHERE id = ? AND status = ?",
        )
        .run(Date.now(), `interrupted: ${reason}`, row.id, row.status).changes
      if (changed === 1) marked.push(row.id)
    }
    return marked
  }

  /**
   * A long-lived store (the app) re-checks running runs now and then, so a run whose process died
   * is never listed as running, not only right after open.
   */
  private recoverIfDue(): void {
    const now = Date.now()
    if (now - this.lastRecovery < this.recheckEveryMs) return
    this.lastRecovery = now
    this.recoverInterrupted()
  }

  private transition(id: string, to: RunStatus, from: readonly RunStatus[], update: () => void): void {
    const apply = this.db.transaction(() => {
      const row = this.runRow(id)
      if (!row) throw unknownRun(id)
      if (!from.includes(row.status)) {
        throw new Error(`run ${id} is ${row.status}; it cannot become ${to} (only from: ${from.join(', ')})`)
      }
      update()
    })
    apply.immediate()
  }

  setRunName(id: string, name: string): void {
    this.updateRun(id, 'UPDATE runs SET name = ? WHERE id = ?', requireText(name, 'run name'))
  }

  setNotes(id: string, notes: string): void {
    this.updateRun(id, 'UPDATE runs SET notes = ? WHERE id = ?', notes)
  }

  setTag(id: string, key: string, value = ''): void {
    this.getRunRecord(id)
    this.db.prepare('INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)').run(id, requireText(key, 'tag key'), value)
  }

  removeTag(id: string, key: string): boolean {
    return this.db.prepare('DELETE FROM tags WHERE run_id = ? AND key = ?').run(id, key).changes === 1
  }

  private updateRun(id: string, sql: string, value: unknown): void {
    if (this.db.prepare(sql).run(value, id).changes !== 1) throw unknownRun(id)
  }

  // ---------------------------------------------------------------- recording (used by SqliteTracker)

  /** Commits buffered metrics, events and samples in one transaction, and heartbeats. */
  recordBatch(runId: string, batch: RecordBatch): void {
    const write = this.db.transaction(() => {
      const latest = new Map<string, { step: number; value: number; wallTime: number }>()
      for (const m of batch.metrics ?? []) {
        const [value, kind] = encodeValue(m.value)
        this.insertMetric.run(runId, m.key, m.step, value, kind, m.wallTime)
        const seen = latest.get(m.key)
        if (!seen || m.step >= seen.step) latest.set(m.key, m)
      }
      for (const [key, m] of latest) {
        const [value, kind] = encodeValue(m.value)
        this.upsertLatest.run(runId, key, m.step, value, kind, m.wallTime)
      }
      for (const e of batch.events ?? []) {
        this.insertEvent.run(runId, e.step ?? null, e.kind, e.seq ?? null, e.message, e.data === undefined ? null : JSON.stringify(e.data), e.time)
      }
      for (const s of batch.samples ?? []) {
        this.insertSample.run(runId, s.step, s.seq ?? null, s.prompt, s.response, JSON.stringify(s.scores ?? {}), s.time)
      }
      this.touchHeartbeat.run(Date.now(), runId)
    })
    // IMMEDIATE takes the write lock up front, so a busy database waits (busy_timeout) instead of failing mid-batch.
    write.immediate()
  }

  logParams(runId: string, params: Record<string, string | number | boolean>): void {
    const put = this.db.prepare('INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)')
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(params)) put.run(runId, key, JSON.stringify(value))
    })()
  }

  /** Records a file or folder (size and sha256 computed now); re-recording a path replaces it. */
  addArtifact(runId: string, artifact: ArtifactRecord): StoredArtifact {
    const abs = this.absolutePath(artifact.path)
    const { bytes, sha256 } = fingerprint(abs)
    const stored = this.storedPath(abs)
    this.db
      .prepare(
        `INSERT INTO artifacts (run_id, kind, path, bytes, sha256, step, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, path) DO UPDATE SET kind = excluded.kind, bytes = excluded.bytes,
           sha256 = excluded.sha256, step = excluded.step, meta = excluded.meta, created_at = excluded.created_at`,
      )
      .run(runId, requireText(artifact.kind, 'artifact kind'), stored, bytes, sha256, artifact.step ?? null, JSON.stringify(artifact.meta ?? {}), Date.now())
    return this.listArtifacts(runId).find((a) => a.path === stored)!
  }

  /**
   * Forgets an artifact and deletes its file(s). Files are only deleted inside the home and when
   * no other run records the same path (a child may point at its parent's checkpoint).
   */
  removeArtifact(runId: string, artifactPath: string): boolean {
    const abs = this.absolutePath(artifactPath)
    const stored = this.storedPath(abs)
    const forgot = this.db.prepare('DELETE FROM artifacts WHERE run_id = ? AND path = ?').run(runId, stored).changes === 1
    if (this.mayDeleteFile(runId, abs, stored)) fs.rmSync(abs, { recursive: true, force: true })
    return forgot
  }

  /** Absolute path of an artifact path that is absolute or relative to the home. */
  absolutePath(p: string): string {
    return path.isAbsolute(p) ? path.normalize(p) : path.join(this.home, p)
  }

  /** Relative to the home with forward slashes when inside it, else absolute. */
  private storedPath(abs: string): string {
    const rel = path.relative(this.home, abs)
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return abs
    return rel.split(path.sep).join('/')
  }

  private mayDeleteFile(runId: string, abs: string, stored: string): boolean {
    if (stored === abs) return false // outside the home: not ours to delete
    const otherRunFolder = stored.match(/^runs\/([^/]+)\//)
    if (otherRunFolder && otherRunFolder[1] !== runId) return false
    const usedElsewhere = this.db.prepare('SELECT 1 FROM artifacts WHERE path = ? AND run_id != ? LIMIT 1').get(stored, runId)
    return !usedElsewhere
  }

  // ---------------------------------------------------------------- reading runs

  /** The id of the run whose id equals or starts with this text (convenient on the command line). */
  resolveRunId(idOrPrefix: string): string {
    if (this.runRow(idOrPrefix)) return idOrPrefix
    const matches = this.db
      .prepare("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 5")
      .pluck(true)
      .all(escapeLike(idOrPrefix) + '%') as string[]
    if (matches.length === 1) return matches[0]
    if (matches.length === 0) throw unknownRun(idOrPrefix)
    throw new Error(`run id prefix "${idOrPrefix}" is ambiguous: ${matches.join(', ')}${matches.length === 5 ? ', ...' : ''}`)
  }

  getRunRecord(id: string): RunRecord {
    const row = this.runRow(id)
    if (!row) throw unknownRun(id)
    return rowToRun(row)
  }

  listRuns(filter: RunFilter = {}): RunSummary[] {
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
    this.recoverIfDue()
    const rows = this.db.prepare(sql).all(...args) as RunRow[]
    return this.summarise(rows)
  }

  /** A run with its params, tags, latest metrics, parents and children. */
  getRun(id: string): RunDetails {
    this.recoverIfDue()
    const row = this.runRow(id)
    if (!row) throw unknownRun(id)
    const [summary] = this.summarise([row])
    const params: Record<string, string | number | boolean> = {}
    for (const p of this.db.prepare('SELECT key, value FROM params WHERE run_id = ? ORDER BY key').all(id) as { key: string; value: string }[]) {
      params[p.key] = JSON.parse(p.value)
    }
    const relatives = (sql: string) =>
      (this.db.prepare(sql).all(id) as { id: string; role: string; name: string | null; stage: string | null; status: RunStatus | null }[]).map(
        toRelative,
      )
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

  private runRow(id: string): RunRow | undefined {
    return this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(id) as RunRow | undefined
  }

  /** Adds tags and latest metrics to run rows, with one query each for all of them. */
  private summarise(rows: RunRow[]): RunSummary[] {
    const ids = JSON.stringify(rows.map((r) => r.id))
    const byId = new Map<string, RunSummary>(rows.map((r) => [r.id, { ...rowToRun(r), tags: {}, metrics: {} }]))
    const tags = this.db.prepare('SELECT run_id, key, value FROM tags WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY key').all(ids) as {
      run_id: string
      key: string
      value: string
    }[]
    for (const t of tags) byId.get(t.run_id)!.tags[t.key] = t.value
    const latest = this.db
      .prepare('SELECT run_id, key, value, value_kind FROM latest_metrics WHERE run_id IN (SELECT value FROM json_each(?)) ORDER BY key')
      .all(ids) as { run_id: string; key: string; value: number | null; value_kind: number }[]
    for (const m of latest) byId.get(m.run_id)!.metrics[m.key] = decodeValue(m.value, m.value_kind)
    return [...byId.values()]
  }

  // ---------------------------------------------------------------- metrics

  metricKeys(runId: string): string[] {
    return this.db.prepare('SELECT key FROM latest_metrics WHERE run_id = ? ORDER BY key').pluck(true).all(runId) as string[]
  }

  /** Every stored point of one metric, in step order (exports; charts use metricSeries). */
  metricHistory(runId: string, key: string): MetricPoint[] {
    const rows = this.db
      .prepare('SELECT step, value, value_kind, wall_time FROM metrics WHERE run_id = ? AND key = ? ORDER BY step')
      .all(runId, key) as { step: number; value: number | null; value_kind: number; wall_time: number }[]
    return rows.map((r) => ({ step: r.step, value: decodeValue(r.value, r.value_kind), wallTime: r.wall_time }))
  }

  /** One series per (run, key), aligned on step, tokens seen or wall time, at most maxPoints each. */
  metricSeries(query: SeriesQuery): MetricSeries[] {
    const maxPoints = query.maxPoints ?? DEFAULT_MAX_POINTS
    if (!Number.isInteger(maxPoints) || maxPoints < 4) throw new Error(`metricSeries: maxPoints must be an integer >= 4, got ${maxPoints}`)
    const axis = query.x ?? 'step'
    if (!['step', 'tokens', 'time'].includes(axis)) throw new Error(`metricSeries: x must be step, tokens or time, got "${axis}"`)
    const out: MetricSeries[] = []
    for (const runId of query.runIds) {
      const run = this.getRunRecord(runId)
      for (const key of query.keys) out.push(this.series.series(run, key, axis, maxPoints))
    }
    return out
  }

  // ---------------------------------------------------------------- compare and lineage

  compareRuns(ids: string[]): RunComparison {
    if (ids.length === 0) throw new Error('compareRuns: give at least one run id')
    const runs = ids.map((id) => this.getRun(id) as RunSummary)
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].sort()
    const metrics: MetricComparison[] = keys.map((key) => {
      const better = metricDirection(key)
      const best = runs.map((r) => (better ? this.bestValue(r.id, key, better) : null))
      return {
        key,
        better,
        final: runs.map((r) => (key in r.metrics ? r.metrics[key] : null)),
        best: best.map((b) => b?.value ?? null),
        bestStep: best.map((b) => b?.step ?? null),
      }
    })
    return { runs, configDiff: diffConfigs(runs.map((r) => r.config)), metrics }
  }

  private bestValue(runId: string, key: string, better: 'min' | 'max'): { value: number; step: number } | null {
    // Only finite values compete: a NaN or infinite loss is never "best".
    const row = this.db
      .prepare(`SELECT ${better}(value) AS value, step FROM metrics WHERE run_id = ? AND key = ? AND value_kind = 0`)
      .get(runId, key) as { value: number | null; step: number | null }
    return row.value === null || row.step === null ? null : { value: row.value, step: row.step }
  }

  /** Ancestors (parents, their parents ...) and descendants of a run, with the edges between them. */
  lineage(id: string): Lineage {
    this.getRunRecord(id)
    // Parents must exist when a run is created, so the graph has no cycles; depth caps it anyway.
    const walk = (from: string, to: string) =>
      this.db
        .prepare(
          `WITH RECURSIVE walk(id, depth) AS (
             SELECT ${to}, 1 FROM run_parents WHERE ${from} = ?
             UNION
             SELECT p.${to}, w.depth + 1 FROM run_parents p JOIN walk w ON p.${from} = w.id WHERE w.depth < 100)
           SELECT w.id, min(w.depth) AS depth, r.name, r.stage, r.status
           FROM walk w LEFT JOIN runs r ON r.id = w.id GROUP BY w.id ORDER BY depth, w.id`,
        )
        .all(id) as { id: string; depth: number; name: string | null; stage: string | null; status: RunStatus | null }[]
    const toNode = (r: { id: string; depth: number; name: string | null; stage: string | null; status: RunStatus | null }): LineageNode => ({
      runId: r.id,
      depth: r.depth,
      exists: r.name !== null,
      ...(r.name !== null ? { name: r.name, stage: r.stage!, status: r.status! } : {}),
    })
    const ancestors = walk('run_id', 'parent_id').map(toNode)
    const descendants = walk('parent_id', 'run_id').map(toNode)
    const members = JSON.stringify([id, ...ancestors.map((a) => a.runId), ...descendants.map((d) => d.runId)])
    const edges = this.db
      .prepare(
        `SELECT run_id AS child, parent_id AS parent, role FROM run_parents
         WHERE run_id IN (SELECT value FROM json_each(?)) AND parent_id IN (SELECT value FROM json_each(?))
         ORDER BY child, parent`,
      )
      .all(members, members) as LineageEdge[]
    return { runId: id, ancestors, descendants, edges }
  }

  // ---------------------------------------------------------------- events, samples, artifacts

  listEvents(runId: string, options: { kind?: string; afterId?: number; limit?: number } = {}): StoredEvent[] {
    const rows = this.db
      .prepare(
        'SELECT * FROM events WHERE run_id = ? AND (? IS NULL OR kind = ?) AND id > ? ORDER BY id LIMIT ?',
      )
      .all(runId, options.kind ?? null, options.kind ?? null, options.afterId ?? 0, options.limit ?? -1) as EventRow[]
    return rows.map((r) => ({
      id: r.id,
      runId: r.run_id,
      step: r.step,
      kind: r.kind,
      message: r.message,
      data: r.data === null ? null : JSON.parse(r.data),
      time: r.time,
    }))
  }

  listSamples(runId: string, options: { step?: number; limit?: number } = {}): StoredSample[] {
    const rows = this.db
      .prepare('SELECT * FROM samples WHERE run_id = ? AND (? IS NULL OR step = ?) ORDER BY step, id LIMIT ?')
      .all(runId, options.step ?? null, options.step ?? null, options.limit ?? -1) as SampleRow[]
    return rows.map((r) => ({
      id: r.id,
      runId: r.run_id,
      step: r.step,
      prompt: r.prompt,
      response: r.response,
      scores: JSON.parse(r.scores),
      time: r.time,
    }))
  }

  listArtifacts(runId: string, options: { kind?: string } = {}): StoredArtifact[] {
    const rows = this.db
      .prepare('SELECT * FROM artifacts WHERE run_id = ? AND (? IS NULL OR kind = ?) ORDER BY created_at, id')
      .all(runId, options.kind ?? null, options.kind ?? null) as ArtifactRow[]
    return rows.map((r) => ({
      id: r.id,
      runId: r.run_id,
      kind: r.kind,
      path: r.path,
      bytes: r.bytes,
      sha256: r.sha256,
      step: r.step,
      meta: JSON.parse(r.meta),
      createdAt: r.created_at,
    }))
  }

  // ---------------------------------------------------------------- delete and export

  /**
   * Removes a run's rows and its artifact files in one step. Refused while the run is running,
   * and (unless force) when other runs descend from it.
   */
  deleteRun(id: string, options: { force?: boolean } = {}): DeleteResult {
    let run = this.getRunRecord(id)
    if (run.status === 'running') {
      // Its process may have died since this store was opened.
      this.recoverInterrupted()
      run = this.getRunRecord(id)
      if (run.status === 'running') {
        throw new Error(`run ${id} is running (pid ${run.pid} on ${run.hostname}); stop it before deleting it`)
      }
    }
    const children = this.getRun(id).children
    if (children.length > 0 && !options.force) throw new RunHasChildrenError(id, children)
    const artifacts = this.listArtifacts(id)
    const doomed = artifacts.map((a) => this.absolutePath(a.path)).filter((abs, i) => this.mayDeleteFile(id, abs, artifacts[i].path))
    // Rows first, in one transaction (children rows cascade). If removing files fails afterwards,
    // what is left are orphan files, never rows pointing at missing files.
    this.db.transaction(() => {
      if (this.db.prepare("DELETE FROM runs WHERE id = ? AND status != 'running'").run(id).changes !== 1) {
        throw new Error(`run ${id} started running while being deleted; nothing was deleted`)
      }
    }).immediate()
    const deletedPaths: string[] = []
    for (const abs of [...doomed, runDir(this.home, id)]) {
      if (fs.existsSync(abs)) {
        fs.rmSync(abs, { recursive: true, force: true })
        deletedPaths.push(abs)
      }
    }
    return { runId: id, deletedPaths }
  }

  /** Config, params, tags, lineage, full metric histories and the artifacts list of each run. */
  exportRuns(ids: string[], format: 'json' | 'csv'): string {
    if (format !== 'json' && format !== 'csv') throw new Error(`export format must be json or csv, got "${format}"`)
    const runs = ids.map((id) => this.getRun(id))
    return format === 'json' ? this.exportJson(runs) : this.exportCsv(runs)
  }

  private exportJson(runs: RunDetails[]): string {
    const exported = runs.map((run) => ({
      ...run,
      metrics: Object.fromEntries(Object.entries(run.metrics).map(([k, v]) => [k, numberForJson(v)])),
      history: Object.fromEntries(
        this.metricKeys(run.id).map((key) => [
          key,
          this.metricHistory(run.id, key).map((p) => ({ step: p.step, value: numberForJson(p.value), wallTime: p.wallTime })),
        ]),
      ),
      artifacts: this.listArtifacts(run.id),
    }))
    return JSON.stringify({ format: 'workbench-runs', version: 1, exportedAt: new Date().toISOString(), runs: exported }, null, 2) + '\n'
  }

  /** Long format, one value per line: easy to filter by `record` in a spreadsheet or pandas. */
  private exportCsv(runs: RunDetails[]): string {
    let out = csvLine(['run_id', 'run_name', 'stage', 'record', 'key', 'step', 'value', 'wall_time', 'detail'])
    for (const run of runs) {
      const line = (record: string, key: string, step: unknown, value: unknown, wallTime: unknown = '', detail: unknown = '') => {
        out += csvLine([run.id, run.name, run.stage, record, key, step, value, wallTime, detail])
      }
      line('run', 'status', '', run.status)
      line('run', 'experiment', '', run.experiment)
      line('run', 'created_at', '', new Date(run.createdAt).toISOString())
      if (run.seed !== null) line('run', 'seed', '', run.seed)
      for (const p of run.parents) line('parent', p.role, '', p.runId)
      for (const [key, value] of Object.entries(flattenForCsv(run.config))) line('config', key, '', value)
      for (const [key, value] of Object.entries(run.params)) line('param', key, '', value)
      for (const [key, value] of Object.entries(run.tags)) line('tag', key, '', value)
      for (const key of this.metricKeys(run.id)) {
        for (const p of this.metricHistory(run.id, key)) line('metric', key, p.step, p.value, p.wallTime)
      }
      for (const a of this.listArtifacts(run.id)) {
        line('artifact', a.kind, a.step ?? '', a.path, '', JSON.stringify({ bytes: a.bytes, sha256: a.sha256, meta: a.meta }))
      }
    }
    return out
  }

  private unusedRunId(now: number): string {
    for (let attempt = 0; attempt < 10; attempt++) {
      const id = newRunId(now)
      if (!this.runRow(id)) return id
    }
    throw new Error('could not find an unused run id after 10 attempts')
  }
}

// ---------------------------------------------------------------- row mapping and small helpers

interface ExperimentRow {
  id: number
  name: string
  description: string
  created_at: number
}
interface EventRow {
  id: number
  run_id: string
  step: number | null
  kind: string
  message: string
  data: string | null
  time: number
}
interface SampleRow {
  id: number
  run_id: string
  step: number
  prompt: string
  response: string
  scores: string
  time: number
}
interface ArtifactRow {
  id: number
  run_id: string
  kind: string
  path: string
  bytes: number
  sha256: string
  step: number | null
  meta: string
  created_at: number
}

function rowToExperiment(row: ExperimentRow): ExperimentRecord {
  return { id: row.id, name: row.name, description: row.description, createdAt: row.created_at }
}

function rowToRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    experimentId: row.experiment_id,
    experiment: row.experiment,
    name: row.name,
    stage: row.stage,
    status: row.status,
    config: JSON.parse(row.config),
    backend: row.backend === null ? null : JSON.parse(row.backend),
    seed: row.seed,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    error: row.error,
    notes: row.notes,
    pid: row.pid,
    hostname: row.hostname,
    heartbeatAt: row.heartbeat_at,
  }
}

function toRelative(r: { id: string; role: string; name: string | null; stage: string | null; status: RunStatus | null }): RunRelative {
  if (r.name === null) return { runId: r.id, role: r.role, exists: false }
  return { runId: r.id, role: r.role, name: r.name, stage: r.stage!, status: r.status!, exists: true }
}

/** Flattened config with non-scalar values (lists, null) written as JSON. */
function flattenForCsv(config: Record<string, unknown>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const [key, value] of Object.entries(flattenConfig(config))) {
    out[key] = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : JSON.stringify(value)
  }
  return out
}

function requireText(value: string, what: string): string {
  const clean = typeof value === 'string' ? value.trim() : ''
  if (!clean) throw new Error(`${what} must be a non-empty string`)
  return clean
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => '\\' + c)
}

function unknownRun(id: string): Error {
  return new Error(`unknown run "${id}"`)
}
