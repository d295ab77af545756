// Cancelling a run that another process started (the app's runs, another terminal's, or the app
// cancelling a CLI run): its worker turns SIGTERM into the same clean stop as the app's Cancel
// (checkpoint, status 'stopped', and a 'cancel' event the worker records itself), so signalling
// the worker is the whole mechanism. The process that queued a run cancels its own runs through
// JobRunner.cancel (runner.ts), which also drops queued ones.

import os from 'node:os'
import type { RunRecord } from '../tracking/types'

/** Why a run cannot be cancelled from here; the message says what to do instead. */
export class CancelRefused extends Error {}

/**
 * Sends SIGTERM to the worker running `run`; throws CancelRefused when the run is not running, is
 * queued in another process's queue (only that process can drop it), runs on another machine, or
 * its process is gone. `signal` SIGKILL stops a worker that ignores the cancel (the run then shows
 * as interrupted, resumable from its last checkpoint).
 */
export function signalRunWorker(run: RunRecord, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): void {
  if (run.status === 'queued') {
    throw new CancelRefused(
      `run ${run.id} is queued and has not started: it waits in the queue of the process that started it (pid ${run.pid ?? 'unknown'}), ` +
        'which alone can drop it; cancel it there (the app\'s Cancel button, or Ctrl-C in that terminal)',
    )
  }
  if (run.status !== 'running') throw new CancelRefused(`run ${run.id} is ${run.status}, so there is nothing to cancel`)
  if (!run.pid) throw new CancelRefused(`run ${run.id} is running but its process id is not recorded, so it cannot be signalled`)
  if (run.hostname !== os.hostname()) {
    throw new CancelRefused(`run ${run.id} runs on ${run.hostname ?? 'another machine'} (pid ${run.pid}), not on ${os.hostname()}: cancel it there`)
  }
  try {
    process.kill(run.pid, signal)
  } catch {
    throw new CancelRefused(`run ${run.id}'s process (pid ${run.pid}) is gone; it will show as interrupted`)
  }
}
