// The runs screens: list, details, metrics, compare, lineage, events, samples, artifacts and
// records of recorded runs, and starting, cancelling, resuming and deleting runs.

import fs from 'node:fs'
import path from 'node:path'
import type { MetricSeries as StoreSeries, RunDetails, RunSummary as StoreRunSummary } from '../../../core/tracking/types'
import { metricDirection } from '../../../core/tracking/compare'
import { isModelCheckpoint } from '../../../core/jobs/checkpoints'
import { signalRunWorker } from '../../../core/jobs/cancel'
import { ConfigError } from '../../../core/config/schema'
import { ApiError, type ApiHandlers, type MetricSeries, type RunArtifact, type RunDetail, type RunSummary } from '../../shared/api'
import { checkRunPaths } from '../pathPolicy'
import { finiteOrNull, finiteOrNullOne, type ServiceContext } from './context'
import { stageOrError } from './stages'
import { progressNow } from '../../../core/tracking/store/progress'

export function createRunHandlers(ctx: ServiceContext) {
  const { home, store, runner, emit, run } = ctx

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
      progress: progressNow(r.progress, r.status),
      error: r.error ?? undefined,
      config: r.config,
      notes: r.notes || undefined,
    }
  }

  function detail(r: RunDetails): RunDetail {
    return {
      ...summary(r),
      parentIds: r.parents.map((p) => p.runId),
      notes: r.notes,
      config: r.config,
      params: r.params,
      backend: (r.backend as unknown as RunDetail['backend']) ?? undefined,
      seed: r.seed ?? undefined,
      runDir: path.join(home, 'runs', r.id),
    }
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

  return {
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
    'runs:annotate': async ({ id, notes, addTags, removeTags }) => {
      run(id)
      if (notes !== undefined) store.setNotes(id, notes)
      for (const tag of addTags) {
        const [key, ...value] = tag.split('=')
        store.setTag(id, key.trim(), value.join('=').trim())
      }
      for (const tag of removeTags) store.removeTag(id, tag.split('=')[0].trim())
      return detail(store.getRun(id))
    },
    'runs:delete': async ({ id, force }) => {
      run(id)
      if (runner.isActive(id)) throw new ApiError(`run ${id} is queued or running: cancel it before deleting it`, 'conflict')
      try {
        store.deleteRun(id, { force })
      } catch (error) {
        throw new ApiError((error as Error).message, 'conflict')
      }
      return { deleted: true }
    },
    'runs:cancel': async ({ id }) => {
      const r = run(id)
      if (runner.cancel(id)) return { cancelled: true }
      // Started by another process (the CLI): its worker turns SIGTERM into a clean stop too.
      try {
        signalRunWorker(r)
        return { cancelled: true }
      } catch (error) {
        throw new ApiError((error as Error).message, 'conflict')
      }
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
      ctx.allowPaths(() => checkRunPaths(stage.fields, args.config, args.parents, ctx.pathPolicy))
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
  } satisfies Partial<ApiHandlers>
}

function series(s: StoreSeries, startMs: number): MetricSeries {
  // The store gives x as seconds since the run started when asked for the time axis.
  return { key: s.key, steps: s.steps, values: s.y.map(finiteOrNullOne), times: s.x.map((x) => startMs + x * 1000) }
}
