// The job runner: a queue of runs, each executed in its own worker process. The CLI, the desktop
// app and web mode all launch runs through it.
//
//   submit()  checks the run (preflight.ts: config, parents, memory, data), records it as
//             'queued' at once, starts it when a slot is free (concurrency 1 by default, so two
//             trainings do not fight for the cores).
//   resume()  queues a stopped / interrupted / failed run again; it continues from its latest
//             checkpoint.
//   cancel()  queued: dropped and marked stopped. Running: SIGTERM, which the worker turns into
//             an AbortSignal -> checkpoint -> status 'stopped'. A second cancel, or no exit
//             within killAfterMs, sends SIGKILL (the run then becomes 'interrupted').
//             Each leaves an event in the store (the worker records the SIGTERM itself, so a
//             cancel sent by any process shows the same way), so the run page's log says so.
// Events: 'event' (runId, WorkerEvent) for everything the worker prints, and
//         'exit' (runId, RunExit) when its process has ended.
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Store } from '../tracking/store'
import type { RunStatus } from '../tracking/types'
import { getStage } from '../train/stages/registry'
import { preflight } from './preflight'
import type { ParentRef, StageResult } from '../train/stages/types'
import { LineSplitter, parseEventLine, type WorkerEvent, type WorkerSpec } from './protocol'

export interface SubmitRequest {
  stage: string
  config: Record<string, unknown>
  parents?: ParentRef[]
  experiment?: string
  name?: string
  tags?: string[]
  /** Defaults to the runner's home. */
  home?: string
}

/**
 * Checks a run's whole request (preflight) and records it as 'queued'; returns its id. A worker
 * (runWorker) then runs it: JobRunner.submit spawns one, a caller in the same process may call it.
 */
export function recordRun(store: Store, req: Omit<SubmitRequest, 'home'>): string {
  const stage = getStage(req.stage)
  const { config, parents } = preflight(stage, req.config, req.parents ?? [], store)
  // The store links recorded runs; a parent that is only a folder (an imported checkpoint)
  // stays in the config, where the stage reads it.
  const run = store.createRun({
    stage: stage.name,
    config,
    parents: parents.filter((p) => p.runId).map((p) => ({ runId: p.runId!, role: p.role })),
    experiment: req.experiment,
    name: req.name,
    seed: typeof config.seed === 'number' ? config.seed : 0,
  })
  for (const tag of req.tags ?? []) store.setTag(run.id, tag)
  return run.id
}

export interface RunExit {
  runId: string
  /** The run's status in the store after the process ended. */
  status: RunStatus
  result?: StageResult
  error?: string
  exitCode: number | null
  signal: NodeJS.Signals | null
}

export interface JobRunnerOptions {
  home: string
  /** Runs at the same time (default 1). */
  concurrency?: number
  /** Backend preference passed to workers (default: WORKBENCH_BACKEND or auto). */
  backend?: string
  /** After a cancel, SIGKILL when the worker has not exited within this time (default 60 s). */
  killAfterMs?: number
}

interface Job {
  runId: string
  home: string
  resume: boolean
  child?: ChildProcess
  cancelRequested?: boolean
  killTimer?: NodeJS.Timeout
  result?: StageResult
  error?: string
  stderrTail: string
}

const require = createRequire(import.meta.url)
const WORKER_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker.ts')

/** `node --import <tsx> worker.ts`, resolved from this file so it works from any cwd. */
function workerCommand(spec: WorkerSpec): string[] {
  const tsxLoader = pathToFileURL(require.resolve('tsx')).href
  return ['--import', tsxLoader, WORKER_PATH, JSON.stringify(spec)]
}

export class JobRunner extends EventEmitter {
  private readonly home: string
  private readonly concurrency: number
  private readonly queue: Job[] = []
  private readonly active = new Map<string, Job>()
  private readonly waiters = new Map<string, ((exit: RunExit) => void)[]>()

  constructor(private readonly options: JobRunnerOptions) {
    super()
    this.home = path.resolve(options.home)
    this.concurrency = options.concurrency ?? 1
  }

  /** Validates and records the run ('queued'), then schedules it. Returns the run id. */
  submit(req: SubmitRequest): string {
    const home = path.resolve(req.home ?? this.home)
    const store = Store.open(home)
    try {
      const runId = recordRun(store, req)
      this.enqueue({ runId, home, resume: false, stderrTail: '' })
      return runId
    } finally {
      store.close()
    }
  }

  /**
   * Queues a stopped, interrupted or failed run again; it continues from its last checkpoint.
   * Accepts a unique id prefix; returns the full run id.
   */
  resume(idOrPrefix: string, home = this.home): string {
    const store = Store.open(home)
    let runId: string
    try {
      runId = store.resolveRunId(idOrPrefix)
      if (this.isActive(runId)) throw new Error(`run ${runId} is already queued or running`)
      const run = store.getRunRecord(runId)
      if (!['stopped', 'interrupted', 'failed'].includes(run.status)) {
        throw new Error(`run ${runId} is ${run.status}; only stopped, interrupted or failed runs can be resumed`)
      }
    } finally {
      store.close()
    }
    // The status stays as it is until the worker takes the run over (startRun -> running).
    this.enqueue({ runId, home: path.resolve(home), resume: true, stderrTail: '' })
    return runId
  }

  /**
   * Cancels a run. Returns false when this runner does not know it (finished, or run by
   * another process). A second cancel of a running job kills it at once.
   */
  cancel(runId: string): boolean {
    const queuedAt = this.queue.findIndex((j) => j.runId === runId)
    if (queuedAt >= 0) {
      const [job] = this.queue.splice(queuedAt, 1)
      const store = Store.open(job.home)
      try {
        store.finishRun(runId, 'stopped', 'cancelled before it started')
        store.addEvent(runId, { kind: 'cancel', message: 'cancelled before it started' })
      } finally {
        store.close()
      }
      this.settle(job, { exitCode: null, signal: null })
      return true
    }
    const job = this.active.get(runId)
    if (!job?.child) return false
    if (job.cancelRequested) {
      this.kill(job, 'killed by a second cancel')
      return true
    }
    job.cancelRequested = true
    job.child.kill('SIGTERM')
    const killAfterMs = this.options.killAfterMs ?? 60_000
    job.killTimer = setTimeout(() => this.kill(job, `killed: it had not stopped ${Math.round(killAfterMs / 1000)} s after the cancel`), killAfterMs)
    job.killTimer.unref()
    return true
  }

  /** SIGKILL, with an event saying why (the worker cannot record its own death). */
  private kill(job: Job, why: string): void {
    if (!job.child || job.child.exitCode !== null || job.child.signalCode !== null) return
    job.child.kill('SIGKILL')
    try {
      const store = Store.open(job.home)
      try {
        store.addEvent(job.runId, { kind: 'kill', message: why })
      } finally {
        store.close()
      }
    } catch (err) {
      // A timer callback must not throw; the run still becomes 'interrupted'.
      console.error(`workbench: could not record the kill of run ${job.runId}: ${(err as Error).message}`)
    }
  }

  /** Resolves when the run's process has ended (immediately if this runner is not running it). */
  wait(runId: string): Promise<RunExit> {
    if (!this.isActive(runId)) return Promise.resolve(this.exitFromStore(runId, this.home, { exitCode: null, signal: null }))
    return new Promise((resolve) => {
      const list = this.waiters.get(runId) ?? []
      list.push(resolve)
      this.waiters.set(runId, list)
    })
  }

  isActive(runId: string): boolean {
    return this.active.has(runId) || this.queue.some((j) => j.runId === runId)
  }

  /** Ids of running and queued runs. */
  jobs(): { running: string[]; queued: string[] } {
    return { running: [...this.active.keys()], queued: this.queue.map((j) => j.runId) }
  }

  private enqueue(job: Job): void {
    this.queue.push(job)
    this.pump()
  }

  private pump(): void {
    while (this.active.size < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!
      this.active.set(job.runId, job)
      this.start(job)
    }
  }

  private start(job: Job): void {
    const spec: WorkerSpec = { home: job.home, runId: job.runId, backend: this.options.backend, resume: job.resume }
    const child = spawn(process.execPath, workerCommand(spec), {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Inside Electron, execPath is the Electron binary: this makes it behave as plain Node.
      env: process.versions.electron ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env,
    })
    job.child = child
    const lines = new LineSplitter((line) => {
      const event = parseEventLine(line)
      if (event) this.onEvent(job, event)
    })
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (chunk: string) => lines.push(chunk))
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (chunk: string) => {
      job.stderrTail = (job.stderrTail + chunk).slice(-4000)
    })
    child.on('error', (err) => {
      job.error = `could not start the worker: ${err.message}`
    })
    child.on('close', (exitCode, signal) => {
      lines.end()
      if (job.killTimer) clearTimeout(job.killTimer)
      this.settle(job, { exitCode, signal })
    })
  }

  private onEvent(job: Job, event: WorkerEvent): void {
    if (event.type === 'result') job.result = event.result
    if (event.type === 'error') job.error = event.message
    this.emit('event', job.runId, event)
  }

  /** Records how the process ended, wakes waiters and starts the next queued run. */
  private settle(job: Job, how: { exitCode: number | null; signal: NodeJS.Signals | null }): void {
    this.active.delete(job.runId)
    const exit = this.safeExitFromStore(job, how)
    this.emit('exit', job.runId, exit)
    for (const resolve of this.waiters.get(job.runId) ?? []) resolve(exit)
    this.waiters.delete(job.runId)
    this.pump()
  }

  /**
   * settle() runs in a child-process callback, where a thrown error would crash the whole
   * process (the server). A store that cannot be read right now (SQLITE_IOERR, disk full, a
   * locked file) is logged and reported in the exit; the run's row is fixed by the next
   * liveness check or resume.
   */
  private safeExitFromStore(job: Job, how: { exitCode: number | null; signal: NodeJS.Signals | null }): RunExit {
    try {
      return this.exitFromStore(job.runId, job.home, how, job)
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      console.error(`workbench: could not record how run ${job.runId} ended: ${detail}`)
      return {
        runId: job.runId,
        // What the worker itself reported is the best evidence left.
        status: job.result ? (job.result.stopped ? 'stopped' : 'finished') : job.error ? 'failed' : 'interrupted',
        result: job.result,
        error: job.error ?? (job.result ? undefined : `the run ended, but its status could not be read from the store: ${detail}`),
        exitCode: how.exitCode,
        signal: how.signal,
      }
    }
  }

  /**
   * Reads the run's final status. Opening the store turns a run whose process died into
   * 'interrupted'. A worker that reported an error but could not record it (disk full, the
   * store failing) gets 'failed' with that error; one that died before it could mark the run
   * running gets 'failed' with the end of its stderr, so nothing is left 'queued' forever.
   */
  private exitFromStore(runId: string, home: string, how: { exitCode: number | null; signal: NodeJS.Signals | null }, job?: Job): RunExit {
    const store = Store.open(home)
    try {
      let run = store.getRunRecord(runId)
      if (run.status === 'queued' && job?.child) {
        const why = job.error ?? (job.stderrTail.trim().split('\n').slice(-5).join('\n') || `worker exited with code ${how.exitCode}`)
        store.finishRun(runId, 'failed', why)
        run = store.getRunRecord(runId)
      } else if (
        (run.status === 'running' || run.status === 'interrupted') &&
        job?.child &&
        run.pid === job.child.pid &&
        job.error &&
        !job.cancelRequested
      ) {
        // Our worker's own finishRun failed; its error event is the truth, not "process gone".
        // (A run owned by another worker, after two resumes at once, is left to that worker.)
        store.finishRun(runId, 'failed', job.error)
        run = store.getRunRecord(runId)
      }
      return {
        runId,
        status: run.status,
        result: job?.result,
        error: job?.error ?? run.error ?? undefined,
        exitCode: how.exitCode,
        signal: how.signal,
      }
    } finally {
      store.close()
    }
  }
}
