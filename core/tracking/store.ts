// The experiment store: every run, metric, artifact and lineage link of a workbench home, in one
// SQLite database (see migrations.ts for the schema). The store is the one owner of run status
// transitions: queued -> running -> finished | failed | stopped | interrupted.
//
// This class is the one entry point; the queries live by domain in store/ (one file each: runs,
// readRuns, experiments, metrics, artifacts, lineage, export) and each method here delegates to
// one of them. A new domain (e.g. annotations.ts) can also be plain functions taking the Store.

import fs from 'node:fs'
import path from 'node:path'
import { dbPath } from './home'
import { closeDatabase, openDatabase, type Db } from './db'
import { SeriesReader } from './series'
import type {
  ArtifactRecord,
  ExperimentRecord,
  Lineage,
  MetricPoint,
  MetricSeries,
  RunComparison,
  RunDetails,
  RunFilter,
  RunRecord,
  RunSummary,
  SeriesQuery,
  StoredArtifact,
  StoredEvent,
  StoredSample,
  RunProgress,
} from './types'
import * as experiments from './store/experiments'
import * as runs from './store/runs'
import * as readRuns from './store/readRuns'
import * as metrics from './store/metrics'
import * as artifacts from './store/artifacts'
import * as lineage from './store/lineage'
import * as progress from './store/progress'
import { exportRuns } from './store/export'
import { getRunRecord } from './store/rows'

export type { CreateRunInput, RunOwner } from './store/runs'
export type { RecordBatch } from './store/metrics'
export { RunHasChildrenError, type DeleteResult } from './store/lineage'

export interface StoreOptions {
  /** A 'running' run whose last heartbeat is older than this is considered dead. Default 30 min. */
  staleAfterMs?: number
  /** How often listRuns/getRun re-check that running runs still have a live process. Default 2 s. */
  recheckEveryMs?: number
}

const DEFAULT_STALE_AFTER_MS = 30 * 60 * 1000
const DEFAULT_RECHECK_EVERY_MS = 2000

export class Store {
  private readonly series: SeriesReader
  private readonly recorder: metrics.Recorder
  private lastRecovery = 0

  private constructor(
    readonly home: string,
    readonly db: Db,
    private readonly staleAfterMs: number,
    private readonly recheckEveryMs: number,
  ) {
    this.series = new SeriesReader(db)
    this.recorder = new metrics.Recorder(db)
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

  // ---------------------------------------------------------------- experiments (store/experiments.ts)

  createExperiment(name: string, description = ''): ExperimentRecord {
    return experiments.createExperiment(this.db, name, description)
  }

  getOrCreateExperiment(name: string): ExperimentRecord {
    return experiments.getOrCreateExperiment(this.db, name)
  }

  listExperiments(): ExperimentRecord[] {
    return experiments.listExperiments(this.db)
  }

  // ---------------------------------------------------------------- runs and status (store/runs.ts)

  createRun(input: runs.CreateRunInput): RunRecord {
    return runs.createRun(this.db, input)
  }

  /** queued (or stopped / interrupted / failed, when resuming) -> running, owned by pid on hostname. */
  startRun(id: string, owner: runs.RunOwner): RunRecord {
    return runs.startRun(this.db, id, owner)
  }

  /** Records that the owner is alive. Returns false when the run is no longer 'running'. */
  heartbeat(id: string): boolean {
    return this.recorder.heartbeat(id)
  }

  /** running (or queued / interrupted) -> finished | failed | stopped. */
  finishRun(id: string, status: 'finished' | 'failed' | 'stopped', error?: string): RunRecord {
    return runs.finishRun(this.db, id, status, error)
  }

  /** running -> interrupted: the owner process died without reporting an end. */
  markInterrupted(id: string, reason?: string): RunRecord {
    return runs.markInterrupted(this.db, id, reason)
  }

  /** Marks running and queued runs whose process is gone as 'interrupted'. Returns their ids. */
  recoverInterrupted(): string[] {
    this.lastRecovery = Date.now()
    return runs.recoverInterrupted(this.db, this.staleAfterMs)
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

  setRunName(id: string, name: string): void {
    runs.setRunName(this.db, id, name)
  }

  setNotes(id: string, notes: string): void {
    runs.setNotes(this.db, id, notes)
  }

  setTag(id: string, key: string, value = ''): void {
    runs.setTag(this.db, id, key, value)
  }

  removeTag(id: string, key: string): boolean {
    return runs.removeTag(this.db, id, key)
  }

  logParams(runId: string, params: Record<string, string | number | boolean>): void {
    runs.logParams(this.db, runId, params)
  }

  // ---------------------------------------------------------------- reading runs (store/readRuns.ts)

  /** The id of the run whose id equals or starts with this text (convenient on the command line). */
  resolveRunId(idOrPrefix: string): string {
    return readRuns.resolveRunId(this.db, idOrPrefix)
  }

  getRunRecord(id: string): RunRecord {
    return getRunRecord(this.db, id)
  }

  listRuns(filter: RunFilter = {}): RunSummary[] {
    const query = readRuns.runListQuery(filter) // a bad filter throws before anything is touched
    this.recoverIfDue()
    return readRuns.listRuns(this.db, query)
  }

  /** A run with its params, tags, latest metrics, parents and children. */
  getRun(id: string): RunDetails {
    this.recoverIfDue()
    return readRuns.getRun(this.db, id)
  }

  // ---------------------------------------------------------------- metrics, events, samples (store/metrics.ts)

  /** Commits buffered metrics, events and samples in one transaction, and heartbeats (used by SqliteTracker). */
  recordBatch(runId: string, batch: metrics.RecordBatch): void {
    this.recorder.recordBatch(runId, batch)
  }

  metricKeys(runId: string): string[] {
    return metrics.metricKeys(this.db, runId)
  }

  /** Every stored point of one metric, in step order (exports; charts use metricSeries). */
  metricHistory(runId: string, key: string): MetricPoint[] {
    return metrics.metricHistory(this.db, runId, key)
  }

  /** One series per (run, key), aligned on step, tokens seen or wall time, at most maxPoints each. */
  metricSeries(query: SeriesQuery): MetricSeries[] {
    return metrics.metricSeries(this.db, this.series, query)
  }

  compareRuns(ids: string[]): RunComparison {
    return metrics.compareRuns(this.db, ids.map((id) => this.getRun(id) as RunSummary))
  }

  /** Records one event outside a tracker (a cancel, a resume, a kill). */
  addEvent(runId: string, event: { kind: string; message: string; data?: unknown; step?: number }): void {
    metrics.addEvent(this.db, runId, event)
  }

  listEvents(runId: string, options: { kind?: string; afterId?: number; limit?: number } = {}): StoredEvent[] {
    return metrics.listEvents(this.db, runId, options)
  }

  listSamples(runId: string, options: { step?: number; limit?: number } = {}): StoredSample[] {
    return metrics.listSamples(this.db, runId, options)
  }

  // ---------------------------------------------------------------- progress (store/progress.ts)

  /** Replaces the run's progress (the job worker calls it, throttled to about once a second). */
  recordProgress(runId: string, p: Omit<RunProgress, 'updatedAt'>): void {
    progress.recordProgress(this.db, runId, p)
  }

  /** The run's latest recorded progress, or null when it has recorded none. */
  getProgress(runId: string): RunProgress | null {
    return progress.progressOf(this.db, [runId]).get(runId) ?? null
  }

  // ---------------------------------------------------------------- artifacts (store/artifacts.ts)

  /** Records a file or folder (size and sha256 computed now); re-recording a path replaces it. */
  addArtifact(runId: string, artifact: ArtifactRecord): StoredArtifact {
    return artifacts.addArtifact(this.db, this.home, runId, artifact)
  }

  /** Forgets an artifact and deletes its file(s) when inside the home and recorded by no other run. */
  removeArtifact(runId: string, artifactPath: string): boolean {
    return artifacts.removeArtifact(this.db, this.home, runId, artifactPath)
  }

  listArtifacts(runId: string, options: { kind?: string } = {}): StoredArtifact[] {
    return artifacts.listArtifacts(this.db, runId, options)
  }

  /** Absolute path of an artifact path that is absolute or relative to the home. */
  absolutePath(p: string): string {
    return artifacts.absolutePath(this.home, p)
  }

  // ---------------------------------------------------------------- lineage, delete, export (store/lineage.ts, store/export.ts)

  /** Ancestors (parents, their parents ...) and descendants of a run, with the edges between them. */
  lineage(id: string): Lineage {
    return lineage.lineage(this.db, id)
  }

  /** Removes a run's rows and files; refused while running and (unless force) when runs descend from it. */
  deleteRun(id: string, options: { force?: boolean } = {}): lineage.DeleteResult {
    return lineage.deleteRun(this, id, options)
  }

  /** Config, params, tags, lineage, full metric histories and the artifacts list of each run. */
  exportRuns(ids: string[], format: 'json' | 'csv'): string {
    return exportRuns(this, ids, format)
  }
}
