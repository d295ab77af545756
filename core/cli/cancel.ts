// `workbench cancel <run>`: stops a running run, whoever started it (the app, another terminal),
// the way the app's Cancel does: its worker gets SIGTERM, saves a checkpoint and records the run
// as stopped (core/jobs/cancel.ts). Waits until it has stopped unless --no-wait.
import { setTimeout as sleep } from 'node:timers/promises'
import { signalRunWorker } from '../jobs/cancel'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'

const USAGE = `Usage: workbench cancel <run-id> [--no-wait] [--kill] [--home DIR] [--json]

Stops a running run, whoever started it: it saves a checkpoint and ends as 'stopped' (resume it
with \`workbench resume <run-id>\`). Waits until it has stopped, at most --timeout seconds (120).
  --no-wait   return once the cancel is sent
  --kill      stop at once without a checkpoint (a run that ignores the cancel); it then shows as
              interrupted, resumable from its last checkpoint
<run-id> is a run id or a unique prefix of one.`

const OPTIONS = {
  ...COMMON_OPTIONS,
  'no-wait': { type: 'boolean' },
  kill: { type: 'boolean' },
  timeout: { type: 'string' },
} as const

/** How often the store is looked at while waiting for the worker to stop. */
const POLL_MS = 200

export async function runCancelCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, OPTIONS, 'cancel')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const [idOrPrefix, extra] = args.positionals
  if (!idOrPrefix) throw new UsageError('cancel: which run? Usage: workbench cancel <run-id>')
  if (extra) throw new UsageError(`cancel: unexpected argument "${extra}"`)
  const timeoutS = Number(args.values.timeout ?? 120)
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`cancel: --timeout must be a positive number of seconds, got "${args.values.timeout}"`)
  const kill = Boolean(args.values.kill)

  const store = Store.open(resolveHome(args.values.home as string | undefined))
  try {
    const runId = store.resolveRunId(idOrPrefix)
    signalRunWorker(store.getRunRecord(runId), kill ? 'SIGKILL' : 'SIGTERM')
    // The worker records a SIGTERM itself; a killed worker cannot, so say here what happened.
    if (kill) store.addEvent(runId, { kind: 'kill', message: 'killed from the command line (workbench cancel --kill)' })
    if (args.values['no-wait']) return report(io, args.values.json === true, runId, 'cancelling')
    const status = await waitUntilNotRunning(store, runId, timeoutS * 1000)
    if (status === 'running') {
      io.err(`run ${runId} is still stopping after ${timeoutS} s; \`workbench cancel ${runId} --kill\` stops it at once`)
      return 1
    }
    return report(io, args.values.json === true, runId, status)
  } finally {
    store.close()
  }
}

function report(io: CliIO, json: boolean, runId: string, status: string): number {
  io.out(json ? JSON.stringify({ id: runId, status }) : status === 'cancelling' ? `run ${runId}: cancel sent` : `run ${runId} is ${status}`)
  return 0
}

/** The run's status once it is no longer running (or 'running' after `timeoutMs`). */
async function waitUntilNotRunning(store: Store, runId: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    // A worker that died (killed) is found out here and marked interrupted.
    store.recoverInterrupted()
    const status = store.getRunRecord(runId).status
    if (status !== 'running' || Date.now() >= deadline) return status
    await sleep(POLL_MS)
  }
}
