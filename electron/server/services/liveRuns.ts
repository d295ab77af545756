// Live run updates pushed to the page: the runner's worker events for runs this process started
// (metrics, progress, status, exit), and, for runs started elsewhere (the CLI, another window),
// a look at the store every few seconds for status changes and the progress their workers record
// there (store/progress.ts), so those show step and ETA live too.

import type { RunExit } from '../../../core/jobs/runner'
import type { WorkerEvent } from '../../../core/jobs/protocol'
import { finiteOrNull, type ServiceContext } from './context'
import { progressNow } from '../../../core/tracking/store/progress'

/** Starts forwarding; returns the function that stops watching the store. */
export function startLiveRuns(ctx: ServiceContext, watchIntervalMs: number): () => void {
  const { store, runner, emit } = ctx

  runner.on('event', (runId: string, event: WorkerEvent) => forwardWorkerEvent(runId, event))
  runner.on('exit', (runId: string, exit: RunExit) => {
    emit('run:update', { id: runId, status: exit.status, message: exit.error })
  })

  function forwardWorkerEvent(runId: string, event: WorkerEvent) {
    if (event.type === 'metric') {
      emit('run:metrics', { id: runId, step: event.step, values: finiteOrNull(event.values), time: Date.now() })
    } else if (event.type === 'progress') {
      const { type: _type, ...p } = event
      emit('run:update', { id: runId, progress: p })
    } else if (event.type === 'status') {
      emit('run:update', { id: runId, status: event.status, message: event.error })
    }
  }

  // Runs started elsewhere send us no events: look for status changes in the store (a dead owner
  // becomes 'interrupted' here) and newly recorded progress, and push them.
  const lastStatus = new Map<string, string>()
  const lastProgressAt = new Map<string, number>()
  let lookedOnce = false
  function watchStore() {
    try {
      store.recoverInterrupted()
      for (const r of store.listRuns({ limit: 200 })) {
        const before = lastStatus.get(r.id)
        lastStatus.set(r.id, r.status)
        // Our own runs report themselves.
        if (runner.isActive(r.id)) continue
        // A changed status, or a run that appeared since the last look.
        const changed = before === undefined ? lookedOnce : before !== r.status
        if (changed) emit('run:update', { id: r.id, status: r.status })
        const progressAt = r.progress?.updatedAt
        if (r.status === 'running' && progressAt !== undefined && progressAt !== lastProgressAt.get(r.id)) {
          lastProgressAt.set(r.id, progressAt)
          emit('run:update', { id: r.id, progress: progressNow(r.progress, r.status) })
        }
      }
      lookedOnce = true
    } catch (error) {
      console.error(`services: watching the store failed: ${(error as Error).message}`)
    }
  }
  const watcher = setInterval(watchStore, watchIntervalMs)
  watcher.unref()
  watchStore()
  return () => clearInterval(watcher)
}
