// The API implemented over core: the SQLite store for everything recorded, the stage registry for
// forms, the job runner for starting / cancelling / resuming runs, and the chat engine for the
// playground. Main (through the services process) and web mode both serve exactly these handlers.
//
// Arguments arrive already validated by the zod schemas in electron/shared/api.ts; what is left
// here is checking them against the world (does the run exist, is the path allowed).

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createRequire } from 'node:module'
import { Store } from '../../core/tracking/store'
import type { MetricSeries as StoreSeries, RunDetails, RunSummary as StoreRunSummary } from '../../core/tracking/types'
import { metricDirection } from '../../core/tracking/compare'
import { JobRunner, type RunExit } from '../../core/jobs/runner'
import type { WorkerEvent } from '../../core/jobs/protocol'
import { isModelCheckpoint } from '../../core/jobs/checkpoints'
import { getStage, listStages } from '../../core/train/stages/registry'
import { ConfigError, checkValue } from '../../core/config/schema'
import type { Progress } from '../../core/train/stages/types'
import {
  ApiError,
  type ApiHandlers,
  type CheckpointInfo,
  type DatasetInfo,
  type EventSink,
  type MetricSeries,
  type ModelEstimate,
  type RunArtifact,
  type RunDetail,
  type RunSummary,
  type SystemInfo,
} from '../shared/api'
import { ChatEngine } from './chat'
import { createAnnotationHandlers } from './annotations'
import { checkReadablePath, checkRunPaths, PathNotAllowedError, type PathPolicy } from './pathPolicy'

export interface ServicesOptions {
  home: string
  emit: EventSink
  mode: 'desktop' | 'web'
  /** Desktop only: a native file dialog. Web mode has none and lists the home's datasets instead. */
  pickFile?: (title: string) => Promise<string | null>
  /** Backend preference for runs and chat (default: WORKBENCH_BACKEND or auto). */
  backend?: string
  /** How often to look for changes made by other processes (default 3 s). */
  watchIntervalMs?: number
}

export interface Services {
  handlers: ApiHandlers
  home: string
  close(): Promise<void>
}

/** Text files offered as datasets: in <home>/datasets and the project's resources/. */
const DATASET_EXTENSIONS = new Set(['.txt', '.jsonl', '.json', '.md', '.csv'])

export function createServices(options: ServicesOptions): Services {
  const home = path.resolve(options.home)
  fs.mkdirSync(path.join(home, 'datasets'), { recursive: true })
  const store = Store.open(home)
  const runner = new JobRunner({ home, backend: options.backend })
  const chat = new ChatEngine({ backend: options.backend })
  const progress = new Map<string, Progress>()
  /** Files the user picked with the native dialog: allowed even outside the home. */
  const picked = new Set<string>()
  const { emit } = options

  runner.on('event', (runId: string, event: WorkerEvent) => forwardWorkerEvent(runId, event))
  runner.on('exit', (runId: string, exit: RunExit) => {
    progress.delete(runId)
    emit('run:update', { id: runId, status: exit.status, message: exit.error })
  })

  // Runs started elsewhere (the CLI, another window) send us no events: every few seconds, look
  // for status changes in the store (a dead owner becomes 'interrupted' here) and push them.
  const lastStatus = new Map<string, string>()
  let lookedOnce = false
  function watchStore() {
    try {
      store.recoverInterrupted()
      for (const r of store.listRuns({ limit: 200 })) {
        const before = lastStatus.get(r.id)
        lastStatus.set(r.id, r.status)
        // A changed status, or a run that appeared since the last look; our own runs report themselves.
        const changed = before === undefined ? lookedOnce : before !== r.status
        if (changed && !runner.isActive(r.id)) emit('run:update', { id: r.id, status: r.status })
      }
      lookedOnce = true
    } catch (error) {
      console.error(`services: watching the store failed: ${(error as Error).message}`)
    }
  }
  const watcher = setInterval(watchStore, options.watchIntervalMs ?? 3000)
  watcher.unref()
  watchStore()

  function forwardWorkerEvent(runId: string, event: WorkerEvent) {
    if (event.type === 'metric') {
      emit('run:metrics', { id: runId, step: event.step, values: finiteOrNull(event.values), time: Date.now() })
    } else if (event.type === 'progress') {
      const { type: _type, ...p } = event
      progress.set(runId, p)
      emit('run:update', { id: runId, progress: p })
    } else if (event.type === 'status') {
      emit('run:update', { id: runId, status: event.status, message: event.error })
    }
  }

  function run(id: string): RunDetails {
    try {
      return store.getRun(id)
    } catch {
      throw new ApiError(`no run with id "${id}"`, 'not_found')
    }
  }

  function summary(r: StoreRunSummary): RunSummary {
    return {
      id: r.id,
      name: r.name,
      experiment: r.experiment,
      stage: r.stage,
      status: r.status,
      tags: Object.entries(r.tags).map(([k, v]) => (v ? `${k}=${v}` : k)),
      createdAt: r.createdAt,
      startedAt: r.startedAt ?? undefined,
      endedAt: r.endedAt ?? undefined,
      parentIds: 'parents' in r ? (r as RunDetails).parents.map((p) => p.runId) : [],
      latest: finiteOrNull(r.metrics),
      progress: progress.get(r.id),
      error: r.error ?? undefined,
    }
  }

  function detail(r: RunDetails): RunDetail {
    return {
      ...summary(r),
      parentIds: r.parents.map((p) => p.runId),
      config: r.config,
      params: r.params,
      backend: (r.backend as unknown as RunDetail['backend']) ?? undefined,
      seed: r.seed ?? undefined,
      runDir: path.join(home, 'runs', r.id),
    }
  }

  function series(s: StoreSeries, startMs: number): MetricSeries {
    // The store gives x as seconds since the run started when asked for the time axis.
    return { key: s.key, steps: s.steps, values: s.y.map(finiteOrNullOne), times: s.x.map((x) => startMs + x * 1000) }
  }

  function seriesOf(ids: string[], keys: string[] | undefined, maxPoints: number): MetricSeries[][] {
    return ids.map((id) => {
      const r = run(id)
      const wanted = keys ?? store.metricKeys(id)
      if (wanted.length === 0) return []
      const start = r.startedAt ?? r.createdAt
      return store.metricSeries({ runIds: [id], keys: wanted, x: 'time', maxPoints }).filter((s) => s.steps.length > 0).map((s) => series(s, start))
    })
  }

  function checkpoints(): CheckpointInfo[] {
    const out: CheckpointInfo[] = []
    for (const r of store.listRuns({})) {
      for (const a of store.listArtifacts(r.id)) {
        if (a.kind !== 'checkpoint' && a.kind !== 'model') continue
        const dir = store.absolutePath(a.path)
        if (!isModelCheckpoint(dir)) continue
        const best = (a.meta as Record<string, unknown>)?.best === true ? ' · best' : ''
        out.push({
          path: dir,
          label: `${r.name || r.id} (${r.stage}) · step ${a.step ?? '?'}${best}`,
          runId: r.id,
          runName: r.name,
          stage: r.stage,
          step: a.step ?? undefined,
          createdAt: a.createdAt,
        })
      }
    }
    // Newest first: the run just trained is the one people want to talk to.
    return out.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || (b.step ?? 0) - (a.step ?? 0))
  }

  function datasets(): DatasetInfo[] {
    const roots = [path.join(home, 'datasets'), path.join(repoRoot(), 'resources')]
    const files = roots.flatMap((root) => listFiles(root, 3)).filter((f) => DATASET_EXTENSIONS.has(path.extname(f)))
    for (const f of picked) if (!files.includes(f) && fs.existsSync(f)) files.push(f)
    return files.map((f) => ({ path: f, name: path.basename(f), bytes: fs.statSync(f).size }))
  }

  /** Paths the page may hand to a run: inside the home or resources/, or picked natively (pathPolicy.ts). */
  const pathPolicy: PathPolicy = {
    home,
    readRoots: [path.join(repoRoot(), 'resources')],
    picked,
    isRecordedRun: (ref) => {
      try {
        store.resolveRunId(ref)
        return true
      } catch {
        return false
      }
    },
  }
  /** Runs a path check, turning its refusal into a 403 for the page. */
  function allowPaths(check: () => void): void {
    try {
      check()
    } catch (error) {
      if (error instanceof PathNotAllowedError) throw new ApiError(error.message, 'forbidden')
      throw error
    }
  }

  /** A file the page may hand to a handler: inside the home or resources/, or picked natively. */
  function checkPathAllowed(p: string, field: string): void {
    allowPaths(() => checkReadablePath(p, field, pathPolicy))
  }

  /**
   * A checkpoint the page may load: a recorded one, or a checkpoint folder in an allowed place
   * (the place is checked first, so the answer never tells what exists outside it).
   */
  function checkCheckpoint(p: string, field: string): void {
    if (checkpoints().some((c) => c.path === path.resolve(p))) return
    checkPathAllowed(p, field)
    if (!isModelCheckpoint(p)) throw new ApiError(`${field}: ${p} is not a checkpoint folder (config.json + model.safetensors)`)
  }

  const handlers: ApiHandlers = {
    'runs:list': async (f) => store.listRuns({ experiment: f.experiment, stage: f.stage, status: f.status, tag: f.tag, text: f.text }).map(summary),
    'runs:get': async ({ id }) => detail(run(id)),
    'runs:metrics': async ({ id, keys, maxPoints }) => seriesOf([id], keys, maxPoints)[0],
    'runs:compare': async ({ ids, keys, maxPoints }) => {
      ids.forEach(run)
      const c = store.compareRuns(ids)
      return {
        runs: ids.map((id) => summary(run(id))),
        configDiff: c.configDiff,
        metrics: c.metrics.map((m) => ({ key: m.key, final: m.final, best: m.best, lowerIsBetter: (m.better ?? metricDirection(m.key)) !== 'max' })),
        series: seriesOf(ids, keys, maxPoints),
      }
    },
    'runs:lineage': async ({ id }) => {
      const r = run(id)
      const parents = r.parents.filter((p) => p.exists).map((p) => ({ ...summary(run(p.runId)), role: p.role }))
      const children = r.children.filter((c) => c.exists).map((c) => summary(run(c.runId)))
      return { parents, children }
    },
    'runs:delete': async ({ id }) => {
      run(id)
      if (runner.isActive(id)) throw new ApiError(`run ${id} is queued or running: cancel it before deleting it`, 'conflict')
      try {
        store.deleteRun(id)
      } catch (error) {
        throw new ApiError((error as Error).message, 'conflict')
      }
      return { deleted: true }
    },
    'runs:cancel': async ({ id }) => {
      const r = run(id)
      if (runner.cancel(id)) return { cancelled: true }
      if (r.status === 'running' && r.pid && r.hostname === os.hostname()) {
        // Started by another process (the CLI): its worker turns SIGTERM into a clean stop too.
        try {
          process.kill(r.pid, 'SIGTERM')
          return { cancelled: true }
        } catch {
          throw new ApiError(`run ${id}'s process (pid ${r.pid}) is gone; it will show as interrupted`, 'conflict')
        }
      }
      throw new ApiError(`run ${id} is ${r.status}, so there is nothing to cancel`, 'conflict')
    },
    'runs:resume': async ({ id }) => {
      run(id)
      try {
        runner.resume(id)
      } catch (error) {
        throw new ApiError((error as Error).message, 'conflict')
      }
      emit('run:update', { id, status: 'queued' })
      return { id }
    },
    'runs:events': async ({ id }) => {
      run(id)
      return store.listEvents(id, { limit: 1000 }).map((e) => ({ kind: e.kind, message: e.message, step: e.step ?? undefined, data: e.data, time: e.time }))
    },
    'runs:samples': async ({ id }) => {
      run(id)
      return store.listSamples(id, { limit: 500 }).map((s) => ({ step: s.step, prompt: s.prompt, response: s.response, scores: s.scores }))
    },
    'runs:artifacts': async ({ id }) => {
      run(id)
      return store.listArtifacts(id).map(
        (a): RunArtifact => ({ kind: a.kind, path: a.path, absPath: store.absolutePath(a.path), bytes: a.bytes, sha256: a.sha256, step: a.step ?? undefined, meta: a.meta }),
      )
    },
    'runs:records': async ({ id, kind, limit }) => {
      run(id)
      const artifact = store.listArtifacts(id, { kind })[0]
      if (!artifact) throw new ApiError(`run ${id} has no ${kind} artifact`, 'not_found')
      const file = store.absolutePath(artifact.path)
      const lines = fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '')
      const rows = lines.slice(0, limit).map((line, i) => {
        try {
          return JSON.parse(line) as Record<string, unknown>
        } catch {
          throw new ApiError(`${file}:${i + 1}: not valid JSON`, 'internal')
        }
      })
      return { rows, total: lines.length }
    },
    'runs:create': async (args) => {
      const stage = stageOrError(args.stage)
      // Every path the run will touch (declared path fields, parent folders), before any disk access.
      allowPaths(() => checkRunPaths(stage.fields, args.config, args.parents, pathPolicy))
      for (const p of args.parents) {
        if (p.runId) run(p.runId)
        if (p.checkpointDir && !isModelCheckpoint(p.checkpointDir)) throw new ApiError(`parent ${p.role}: ${p.checkpointDir} is not a checkpoint folder`)
      }
      try {
        const id = runner.submit({ stage: args.stage, config: args.config, parents: args.parents, experiment: args.experiment, name: args.name, tags: args.tags })
        emit('run:update', { id, status: 'queued' })
        return { id }
      } catch (error) {
        if (error instanceof ConfigError) throw new ApiError(error.message)
        throw new ApiError((error as Error).message)
      }
    },
    'stages:list': async () =>
      listStages().map((s) => ({
        name: s.name,
        title: s.title,
        description: s.description,
        fields: s.fields,
        presets: (s.presets ?? {}) as Record<string, Record<string, unknown>>,
        // The form asks for the parents a run cannot start without (their config keys are hidden).
        parentRoles: (s.parents ?? []).filter((p) => p.required).map((p) => p.role),
      })),
    'checkpoints:list': async () => checkpoints(),
    'datasets:list': async () => datasets(),
    'datasets:pick': async ({ title }) => {
      if (!options.pickFile) {
        throw new ApiError(`web mode has no file dialog: type a path, or copy the file into ${path.join(home, 'datasets')} and pick it from the list`)
      }
      const file = await options.pickFile(title ?? 'Pick a dataset')
      if (!file) return null
      const abs = path.resolve(file)
      picked.add(abs)
      return { path: abs, name: path.basename(abs), bytes: fs.statSync(abs).size }
    },
    'chat:generate': async (args) => {
      checkCheckpoint(args.checkpoint, 'checkpoint')
      return chat.generate(args, (text) => emit('chat:token', { requestId: args.requestId, text }))
    },
    'reward:score': async (args) => {
      checkCheckpoint(args.checkpoint, 'checkpoint')
      return chat.score(args)
    },
    'model:estimate': async ({ stage, config }) => estimate(stageOrError(stage), config),
    ...createAnnotationHandlers({ store, chat, emit, checkPathAllowed, checkCheckpoint }),
    'system:info': async (): Promise<SystemInfo> => ({
      version: packageVersion(),
      home,
      mode: options.mode,
      platform: `${process.platform} ${process.arch}`,
      nodeVersion: process.version,
      backend: chat.backend,
    }),
  }

  return {
    handlers,
    home,
    async close() {
      clearInterval(watcher)
      for (const id of runner.jobs().running) runner.cancel(id)
      chat.dispose()
      store.close()
    },
  }
}

function stageOrError(name: string) {
  try {
    return getStage(name)
  } catch (error) {
    throw new ApiError((error as Error).message, 'not_found')
  }
}

/**
 * Model size and training memory for the form's config, from the stage's own estimate. The form
 * sends what is valid so far: fields it lacks or that do not pass take their defaults here.
 */
function estimate(stage: ReturnType<typeof getStage>, input: Record<string, unknown>): ModelEstimate {
  if (!stage.estimate) {
    const from = (stage.parents ?? []).filter((p) => p.required).map((p) => p.role)
    throw new ApiError(from.length > 0 ? `the model comes from the ${from.join(' / ')} checkpoint, so it has that checkpoint's size` : 'this stage trains no model, so there is no size to preview')
  }
  const config: Record<string, unknown> = {}
  for (const field of stage.fields) {
    const value = input[field.key]
    if (value !== undefined && checkValue(field, value) === null) config[field.key] = value
    else if (field.default !== undefined) config[field.key] = field.default
  }
  let result: ModelEstimate | undefined
  try {
    result = stage.estimate(config)
  } catch (error) {
    throw new ApiError((error as Error).message)
  }
  if (!result) throw new ApiError('the size of this model is known only once the run starts')
  return result
}

function finiteOrNullOne(v: number): number | null {
  return Number.isFinite(v) ? v : null
}

function finiteOrNull(values: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, finiteOrNullOne(v)]))
}

function listFiles(root: string, depth: number): string[] {
  if (depth < 0 || !fs.existsSync(root)) return []
  const out: string[] = []
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full, depth - 1))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

const require = createRequire(import.meta.url)

function repoRoot(): string {
  return path.resolve(path.dirname(require.resolve('../../package.json')))
}

function packageVersion(): string {
  return (require('../../package.json') as { version: string }).version
}
