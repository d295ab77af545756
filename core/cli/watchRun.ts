// Follows one run of the job runner on the terminal until it ends: progress bar (TTY) or plain
// lines, logs, and with --json one JSON object per logged step / evaluation and a final summary.
// Ctrl-C asks for a graceful cancel (checkpoint, status stopped); a second Ctrl-C kills.
import path from 'node:path'
import type { JobRunner, RunExit } from '../jobs/runner'
import type { WorkerEvent } from '../jobs/protocol'
import type { CliIO } from './io'
import { ProgressDisplay } from './progress'

export interface WatchOptions {
  runId: string
  home: string
  json: boolean
}

/** Exit codes: 0 finished, 1 failed, 130 stopped or interrupted (as after Ctrl-C). */
export function exitCodeFor(exit: RunExit): number {
  if (exit.status === 'finished') return 0
  if (exit.status === 'failed') return 1
  return 130
}

export async function watchRun(runner: JobRunner, io: CliIO, opts: WatchOptions): Promise<number> {
  const display = new ProgressDisplay({ write: io.write, isTTY: io.isTTY })
  const runDir = path.join(opts.home, 'runs', opts.runId)
  const onEvent = (runId: string, event: WorkerEvent) => {
    if (runId !== opts.runId) return
    if (opts.json) {
      if (event.type === 'metric') io.out(jsonLine({ type: 'metric', run_id: runId, step: event.step, ...event.values }))
      return
    }
    if (event.type === 'progress') display.update(event)
    else if (event.type === 'log') display.line(event.message)
    // An 'error' event is the run's failure: printed once, on stderr, with the summary.
  }
  let interrupts = 0
  const onSigint = () => {
    interrupts++
    if (!opts.json) display.line(interrupts === 1 ? 'cancelling: saving a checkpoint (Ctrl-C again to kill)' : 'killing the run')
    runner.cancel(opts.runId)
  }
  runner.on('event', onEvent)
  process.on('SIGINT', onSigint)
  if (!opts.json) display.line(`run ${opts.runId}: folder ${runDir}`)
  try {
    const exit = await runner.wait(opts.runId)
    display.clear()
    printSummary(io, exit, runDir, opts.json)
    return exitCodeFor(exit)
  } finally {
    runner.off('event', onEvent)
    process.off('SIGINT', onSigint)
  }
}

function printSummary(io: CliIO, exit: RunExit, runDir: string, json: boolean): void {
  const summary = exit.result?.summary ?? {}
  const checkpoint = exit.result?.checkpointDir
  if (json) {
    io.out(jsonLine({ type: 'summary', run_id: exit.runId, status: exit.status, run_dir: runDir, checkpoint: checkpoint ?? null, error: exit.error ?? null, ...summary }))
    return
  }
  io.out(`run ${exit.runId} ${exit.status}`)
  for (const [key, value] of Object.entries(summary)) io.out(`  ${key}: ${typeof value === 'number' ? formatNumber(value) : value}`)
  if (checkpoint) io.out(`  checkpoint: ${checkpoint}`)
  io.out(`  run folder: ${runDir}`)
  if (exit.status === 'failed' && exit.error) io.err(`error: ${exit.error}`)
  if (exit.status === 'stopped' || exit.status === 'interrupted') io.out(`  continue it with: workbench resume ${exit.runId}`)
}

function formatNumber(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(5)))
}

/** JSON with NaN / Infinity as strings (JSON has no literal for them). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))
}
