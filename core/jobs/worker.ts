// The job worker: the child process that runs one stage of one run.
//   node --import tsx core/jobs/worker.ts '{"home": "...", "runId": "...", "resume": false}'
// It owns the run's status from here on: running (with pid and hostname) -> finished | failed
// (with the error text) | stopped. It prints one JSON event per line on stdout (see protocol.ts).
// It records the run's progress in the store (progressReporter.ts), samples its own CPU and
// memory as system/* metrics (systemMetrics.ts), and records what happens to the run as events:
// a cancel (SIGTERM / SIGINT, whoever sent it: the CLI's Ctrl-C, the app, a kill), a resume and
// where it continued from, a stop.
// If it is killed outright, the run stays `running` in the database until the next Store.open
// sees that its process is gone and marks it `interrupted` (with an event saying so).
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { initBackend, backendPreference } from '../backend'
import { nativeMatMulActive } from '../backend/kernels/nativeMatMul'
import { Store } from '../tracking/store'
import { SqliteTracker } from '../tracking/tracker'
import { runDir as runFolder } from '../tracking/home'
import type { Tracker } from '../tracking/types'
import { resolveConfig } from '../config/schema'
import { getStage } from '../train/stages/registry'
import type { ParentRef, StageContext, StageResult } from '../train/stages/types'
import { encodeEvent, type WorkerEvent, type WorkerSpec } from './protocol'
import { findModelCheckpoint, latestResumableCheckpoint } from './checkpoints'
import { ProgressReporter } from './progressReporter'
import { startSystemMetrics } from './systemMetrics'

/** Prints one protocol event on stdout. */
export function emit(event: WorkerEvent): void {
  process.stdout.write(encodeEvent(event) + '\n')
}

/** A tracker that records to the store and also streams metrics to the parent process. */
class StreamingTracker implements Tracker {
  constructor(private readonly inner: Tracker) {}
  get runId(): string {
    return this.inner.runId
  }
  logMetrics(step: number, values: Record<string, number>): void {
    this.inner.logMetrics(step, values)
    emit({ type: 'metric', step, values })
  }
  logEvent(kind: string, message: string, data?: unknown, step?: number): void {
    this.inner.logEvent(kind, message, data, step)
    emit({ type: 'log', message: `[${kind}] ${message}` })
  }
  logSample(sample: Parameters<Tracker['logSample']>[0]): void {
    this.inner.logSample(sample)
  }
  logArtifact(artifact: Parameters<Tracker['logArtifact']>[0]): void {
    this.inner.logArtifact(artifact)
  }
  removeArtifact(p: string): void {
    this.inner.removeArtifact(p)
  }
  logParams(params: Record<string, string | number | boolean>): void {
    this.inner.logParams(params)
  }
  flush(): void {
    this.inner.flush()
  }
}

/** Runs the run described by `spec` to its end; returns the final status. */
export async function runWorker(spec: WorkerSpec): Promise<'finished' | 'failed' | 'stopped'> {
  const store = Store.open(spec.home)
  const run = store.getRun(spec.runId)
  const abort = new AbortController()
  const progress = new ProgressReporter({
    emit: (p) => emit({ type: 'progress', ...p }),
    record: (p) => store.recordProgress(run.id, p),
    warn: (message) => emit({ type: 'log', message }),
  })
  const onSignal = (signal: NodeJS.Signals) => {
    if (!abort.signal.aborted) {
      emit({ type: 'log', message: 'cancel requested: checkpointing and stopping' })
      recordEvent(store, run.id, { kind: 'cancel', message: `cancel requested (${signal}): saving a checkpoint and stopping`, step: progress.step, data: { signal } })
    }
    abort.abort()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  let tracker: SqliteTracker | null = null
  let system: { stop(): void } | null = null
  let owned = false
  try {
    const stage = getStage(run.stage)
    const backend = await initBackend(backendPreference(spec.backend))
    store.startRun(run.id, { pid: process.pid, hostname: os.hostname(), backend })
    owned = true
    emit({ type: 'status', status: 'running' })
    // The tracker also keeps the run's heartbeat fresh (a run without one is presumed dead).
    tracker = new SqliteTracker(store, run.id)
    // The seed fixes a run only together with the arithmetic: the native matmul sums in another
    // order than tfjs's own kernels (and the training loop logs its thread count, which splits the
    // batch's sums likewise). Record it, so two runs can be told apart when their curves differ.
    tracker.logParams({ native_matmul: nativeMatMulActive() })
    const dir = runFolder(spec.home, run.id)
    fs.mkdirSync(dir, { recursive: true })
    const parents: ParentRef[] = run.parents.map((p) => ({
      runId: p.runId,
      role: p.role,
      checkpointDir: findModelCheckpoint(store, p.runId) ?? undefined,
    }))
    const resumeFrom = spec.resume ? latestResumableCheckpoint(dir) : undefined
    if (spec.resume && !resumeFrom) emit({ type: 'log', message: 'no checkpoint to resume from: starting this run from the beginning' })
    if (spec.resume) {
      const message = resumeFrom ? `resumed from checkpoint ${path.basename(resumeFrom)}` : 'resumed with no checkpoint to continue from: started from the beginning'
      recordEvent(store, run.id, { kind: 'resume', message, data: { checkpoint: resumeFrom ?? null } })
    }
    const streaming = new StreamingTracker(tracker)
    system = startSystemMetrics(streaming, () => progress.step)
    const ctx: StageContext = {
      runId: run.id,
      tracker: streaming,
      signal: abort.signal,
      runDir: dir,
      home: spec.home,
      parents,
      resumeFrom: resumeFrom ?? undefined,
      seed: run.seed ?? 0,
      backend,
      log: (message) => emit({ type: 'log', message }),
      progress: (p) => progress.report(p),
    }
    const result: StageResult = await stage.run(ctx, resolveConfig(stage.schema, run.config, `${stage.name} config`))
    system.stop()
    system = null
    progress.flush()
    tracker.flush()
    const status = result.stopped ? 'stopped' : 'finished'
    if (result.stopped) recordEvent(store, run.id, { kind: 'stopped', message: `stopped at step ${progress.step}; resume continues from its last checkpoint`, step: progress.step })
    store.finishRun(run.id, status)
    emit({ type: 'result', result })
    emit({ type: 'status', status })
    return status
  } catch (err) {
    const message = errorText(err, store.db.name)
    try {
      system?.stop()
      progress.flush()
      tracker?.flush()
    } catch {
      // the original error matters more than a failed flush
    }
    try {
      // A run another live worker took over first (two resumes at once) is that worker's: leave it.
      if (owned || store.getRunRecord(run.id).status !== 'running') store.finishRun(run.id, 'failed', message)
    } catch (recordErr) {
      // Disk full or a failing store: the runner records the error event below instead.
      emit({ type: 'log', message: `could not record the failure in the store: ${(recordErr as Error).message}` })
    }
    emit({ type: 'error', message })
    emit({ type: 'status', status: 'failed', error: message })
    return 'failed'
  } finally {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    store.close()
  }
}

/**
 * Records an event about the run (cancel, resume, stop). It only informs the event log, so a store
 * that cannot take it now is reported on the log stream and the run goes on.
 */
function recordEvent(store: Store, runId: string, event: { kind: string; message: string; data?: unknown; step?: number }): void {
  try {
    store.addEvent(runId, event)
  } catch (err) {
    emit({ type: 'log', message: `could not record the ${event.kind} event in the store: ${(err as Error).message}` })
  }
}

/**
 * The text recorded with a failed run. Our errors (bad data, bad config, a diverging run) say
 * what is wrong in their message; a programming error (TypeError ...) keeps its stack so it can
 * be reported as a bug.
 */
function errorText(err: unknown, dbFile?: string): string {
  if (!(err instanceof Error)) return String(err)
  // SQLite's "database or disk is full" / "disk I/O error" do not say which file.
  const code = (err as { code?: unknown }).code
  if (dbFile && typeof code === 'string' && code.startsWith('SQLITE_') && !err.message.includes(dbFile)) {
    return `could not write ${dbFile}: ${err.message} (${code})`
  }
  const bug = err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError
  return bug && err.stack ? err.stack : err.message
}

/** Parses argv[2] into a spec with a clear message when it is wrong. */
export function parseSpec(arg: string | undefined): WorkerSpec {
  if (!arg) throw new Error('usage: node --import tsx core/jobs/worker.ts \'{"home": "...", "runId": "..."}\'')
  const spec = JSON.parse(arg) as WorkerSpec
  if (typeof spec.home !== 'string' || typeof spec.runId !== 'string') {
    throw new Error('worker spec needs "home" and "runId" strings')
  }
  return { ...spec, home: path.resolve(spec.home) }
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  let spec: WorkerSpec
  try {
    spec = parseSpec(process.argv[2])
  } catch (err) {
    emit({ type: 'error', message: (err as Error).message })
    process.exit(2)
  }
  runWorker(spec).then(
    (status) => process.exit(status === 'failed' ? 1 : 0),
    (err) => {
      emit({ type: 'error', message: errorText(err) })
      process.exit(1)
    },
  )
}
