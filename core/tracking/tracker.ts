// The two Tracker implementations: SqliteTracker buffers what a stage records and commits it in
// batched transactions (so recording stays a tiny fraction of a training step), and
// MemoryTracker keeps everything in arrays for tests.

import fs from 'node:fs'
import path from 'node:path'
import type { ArtifactRecord, SampleRecord, Tracker } from './types'
import type { RecordBatch, Store } from './store'
import { fingerprint } from './hash'

export interface SqliteTrackerOptions {
  /** Commit once this many metric points are buffered. Default 200. */
  batchSize?: number
  /** Commit at least this often while points arrive, and heartbeat on this period. Default 1000 ms. */
  flushIntervalMs?: number
}

/** Throws a clear error for a step or value a stage should never log. */
export function checkMetrics(step: number, values: Record<string, number>): void {
  if (!Number.isInteger(step) || step < 0) throw new Error(`logMetrics: step must be an integer >= 0, got ${step}`)
  for (const [key, value] of Object.entries(values)) {
    if (!key) throw new Error('logMetrics: empty metric key')
    if (typeof value !== 'number') throw new Error(`logMetrics: ${key} must be a number, got ${typeof value}`)
  }
}

export class SqliteTracker implements Tracker {
  private metrics: NonNullable<RecordBatch['metrics']> = []
  private events: NonNullable<RecordBatch['events']> = []
  private samples: NonNullable<RecordBatch['samples']> = []
  private lastCommit = Date.now()
  /** Events and samples logged so far per (step, kind) / step: their `seq`, so a replayed step replaces its rows. */
  private readonly seqs = new Map<string, number>()
  private timer: ReturnType<typeof setInterval> | null
  /** An error from a background commit, rethrown to the stage on its next call. */
  private backgroundError: unknown = null
  private readonly batchSize: number
  private readonly flushIntervalMs: number
  /** Metric points committed so far (tests and benchmarks read it). */
  committedPoints = 0
  commits = 0

  constructor(
    private readonly store: Store,
    readonly runId: string,
    options: SqliteTrackerOptions = {},
  ) {
    store.getRunRecord(runId) // fail early on an unknown run
    this.batchSize = options.batchSize ?? 200
    this.flushIntervalMs = options.flushIntervalMs ?? 1000
    // Commits what a slow step left buffered and keeps the heartbeat fresh while the stage works.
    // unref: the timer never keeps a finished process alive.
    this.timer = setInterval(() => this.flushInBackground(), this.flushIntervalMs)
    this.timer.unref()
  }

  logMetrics(step: number, values: Record<string, number>): void {
    checkMetrics(step, values)
    const wallTime = Date.now()
    for (const [key, value] of Object.entries(values)) this.metrics.push({ step, key, value, wallTime })
    this.flushIfDue()
  }

  logEvent(kind: string, message: string, data?: unknown, step?: number): void {
    const seq = step === undefined ? undefined : this.nextSeq(`event\0${step}\0${kind}`)
    this.events.push({ kind, message, data, step, seq, time: Date.now() })
    this.flushIfDue()
  }

  logSample(sample: SampleRecord): void {
    this.samples.push({ ...sample, seq: this.nextSeq(`sample\0${sample.step}`), time: Date.now() })
    this.flushIfDue()
  }

  logArtifact(artifact: ArtifactRecord): void {
    this.flush()
    this.store.addArtifact(this.runId, artifact)
  }

  removeArtifact(artifactPath: string): void {
    this.flush()
    this.store.removeArtifact(this.runId, artifactPath)
  }

  logParams(params: Record<string, string | number | boolean>): void {
    this.store.logParams(this.runId, params)
  }

  /** Commits everything buffered in one transaction (and heartbeats). */
  flush(): void {
    this.rethrowBackgroundError()
    const batch: RecordBatch = { metrics: this.metrics, events: this.events, samples: this.samples }
    this.metrics = []
    this.events = []
    this.samples = []
    this.lastCommit = Date.now()
    if (batch.metrics!.length + batch.events!.length + batch.samples!.length === 0) {
      this.store.heartbeat(this.runId)
      return
    }
    try {
      this.store.recordBatch(this.runId, batch)
    } catch (err) {
      // Put the points back so a retry (e.g. after SQLITE_BUSY) loses nothing.
      this.metrics = batch.metrics!.concat(this.metrics)
      this.events = batch.events!.concat(this.events)
      this.samples = batch.samples!.concat(this.samples)
      throw err
    }
    this.committedPoints += batch.metrics!.length
    this.commits++
  }

  /** Flushes and stops the background timer. The store stays open (its owner closes it). */
  close(): void {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    this.flush()
  }

  private nextSeq(key: string): number {
    const seq = this.seqs.get(key) ?? 0
    this.seqs.set(key, seq + 1)
    return seq
  }

  private flushIfDue(): void {
    if (this.metrics.length >= this.batchSize || Date.now() - this.lastCommit >= this.flushIntervalMs) this.flush()
  }

  private flushInBackground(): void {
    // The owner closed the store without closing the tracker: nothing left to do.
    if (!this.store.db.open) {
      if (this.timer) clearInterval(this.timer)
      this.timer = null
      return
    }
    try {
      if (Date.now() - this.lastCommit >= this.flushIntervalMs) this.flush()
    } catch (err) {
      this.backgroundError = err
      if (this.timer) clearInterval(this.timer)
      this.timer = null
    }
  }

  private rethrowBackgroundError(): void {
    if (this.backgroundError === null) return
    const err = this.backgroundError
    this.backgroundError = null
    throw err
  }
}

export interface MemoryArtifact extends ArtifactRecord {
  bytes: number
  sha256: string
}

/**
 * A Tracker that keeps everything in arrays, for tests. Same checks as SqliteTracker: artifacts
 * are fingerprinted when logged (a missing path throws) and removeArtifact deletes the file(s).
 * Unlike the store, it deletes wherever the path points, since tests work in temp folders.
 */
export class MemoryTracker implements Tracker {
  readonly metrics: { step: number; key: string; value: number }[] = []
  readonly events: { kind: string; message: string; data?: unknown; step?: number }[] = []
  readonly samples: SampleRecord[] = []
  readonly artifacts: MemoryArtifact[] = []
  readonly params: Record<string, string | number | boolean> = {}
  flushes = 0

  constructor(
    readonly runId = 'memory-run',
    /** Relative artifact paths are resolved against this folder (default: the working directory). */
    private readonly home = process.cwd(),
  ) {}

  logMetrics(step: number, values: Record<string, number>): void {
    checkMetrics(step, values)
    for (const [key, value] of Object.entries(values)) this.metrics.push({ step, key, value })
  }

  logEvent(kind: string, message: string, data?: unknown, step?: number): void {
    this.events.push({ kind, message, data, step })
  }

  logSample(sample: SampleRecord): void {
    this.samples.push({ ...sample })
  }

  logArtifact(artifact: ArtifactRecord): void {
    const abs = path.resolve(this.home, artifact.path)
    const recorded: MemoryArtifact = { ...artifact, ...fingerprint(abs) }
    const existing = this.artifacts.findIndex((a) => path.resolve(this.home, a.path) === abs)
    if (existing >= 0) this.artifacts[existing] = recorded
    else this.artifacts.push(recorded)
  }

  removeArtifact(artifactPath: string): void {
    const abs = path.resolve(this.home, artifactPath)
    const index = this.artifacts.findIndex((a) => path.resolve(this.home, a.path) === abs)
    if (index >= 0) this.artifacts.splice(index, 1)
    fs.rmSync(abs, { recursive: true, force: true })
  }

  logParams(params: Record<string, string | number | boolean>): void {
    Object.assign(this.params, params)
  }

  flush(): void {
    this.flushes++
  }

  /** The values logged for one key, in logging order. */
  values(key: string): number[] {
    return this.metrics.filter((m) => m.key === key).map((m) => m.value)
  }

  /** The value at the highest step for one key (what the store's latest_metrics would hold). */
  latest(key: string): number | undefined {
    let best: { step: number; value: number } | undefined
    for (const m of this.metrics) if (m.key === key && (!best || m.step >= best.step)) best = m
    return best?.value
  }
}
