// What every group of handlers shares: the home, the store, the job runner, the chat engine, the
// event sink, the files picked natively, and the path checks that
// decide what the page may hand to a run. createServices builds one and passes it to each
// createXHandlers(ctx).

import fs from 'node:fs'
import path from 'node:path'
import { Store } from '../../../core/tracking/store'
import type { RunDetails } from '../../../core/tracking/types'
import { JobRunner } from '../../../core/jobs/runner'
import { isModelCheckpoint } from '../../../core/jobs/checkpoints'
import { ApiError, type EventSink } from '../../shared/api'
import { ChatEngine } from '../chat'
import { checkReadablePath, PathNotAllowedError, type PathPolicy } from '../pathPolicy'
import { listCheckpoints } from './files'
import { repoRoot } from './system'

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

export interface ServiceContext {
  options: ServicesOptions
  /** Absolute. */
  home: string
  store: Store
  runner: JobRunner
  chat: ChatEngine
  emit: EventSink
  /** Files the user picked with the native dialog: allowed even outside the home. */
  picked: Set<string>
  pathPolicy: PathPolicy
  /** The run, or a 404 for the page. */
  run(id: string): RunDetails
  /** Runs a path check, turning its refusal into a 403 for the page. */
  allowPaths(check: () => void): void
  /** A file the page may hand to a handler: inside the home or resources/, or picked natively. */
  checkPathAllowed(p: string, field: string): void
  /**
   * A checkpoint the page may load: a recorded one, or a checkpoint folder in an allowed place
   * (the place is checked first, so the answer never tells what exists outside it).
   */
  checkCheckpoint(p: string, field: string): void
}

export function createContext(options: ServicesOptions): ServiceContext {
  const home = path.resolve(options.home)
  fs.mkdirSync(path.join(home, 'datasets'), { recursive: true })
  const store = Store.open(home)
  const picked = new Set<string>()

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

  function allowPaths(check: () => void): void {
    try {
      check()
    } catch (error) {
      if (error instanceof PathNotAllowedError) throw new ApiError(error.message, 'forbidden')
      throw error
    }
  }

  function checkPathAllowed(p: string, field: string): void {
    allowPaths(() => checkReadablePath(p, field, pathPolicy))
  }

  return {
    options,
    home,
    store,
    runner: new JobRunner({ home, backend: options.backend }),
    chat: new ChatEngine({ backend: options.backend }),
    emit: options.emit,
    picked,
    pathPolicy,
    run(id) {
      try {
        return store.getRun(id)
      } catch {
        throw new ApiError(`no run with id "${id}"`, 'not_found')
      }
    },
    allowPaths,
    checkPathAllowed,
    checkCheckpoint(p, field) {
      if (listCheckpoints(store).some((c) => c.path === path.resolve(p))) return
      checkPathAllowed(p, field)
      if (!isModelCheckpoint(p)) throw new ApiError(`${field}: ${p} is not a checkpoint folder (config.json + model.safetensors)`)
    },
  }
}

export function finiteOrNullOne(v: number): number | null {
  return Number.isFinite(v) ? v : null
}

export function finiteOrNull(values: Record<string, number>): Record<string, number | null> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, finiteOrNullOne(v)]))
}
