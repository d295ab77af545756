// A desktop notification when a long run finishes or fails while nobody is looking at the app.
// The Notification API is the same in Electron (native notifications, no permission prompt) and in
// a browser (which asks once; we ask only when the user turns the setting on, never on load).
import type { RunDetail, RunStatus, WorkbenchApi } from '../../../electron/shared/api'
import { formatDuration } from './format'

/** Shorter runs end while the user is still watching: no notification. */
export const MIN_NOTIFY_SECONDS = 60

const ENDINGS: RunStatus[] = ['finished', 'failed']

export interface NotifyCheck {
  status: RunStatus | undefined
  /** Seconds from start to end. */
  seconds: number | undefined
  /** The page is hidden (another tab, minimised, or another window on top in Electron). */
  hidden: boolean
  enabled: boolean
  permission: NotificationPermission | 'unsupported'
}

/** Whether a run ending this way is worth a notification. */
export function shouldNotify(c: NotifyCheck): boolean {
  return c.enabled && c.hidden && c.permission === 'granted' && c.status !== undefined && ENDINGS.includes(c.status) && (c.seconds ?? 0) >= MIN_NOTIFY_SECONDS
}

/** "pretrain-tiny finished" / "failed", with how long it took and the error's first line. */
export function notificationText(run: Pick<RunDetail, 'name' | 'id' | 'stage' | 'status' | 'error'>, seconds: number): { title: string; body: string } {
  const title = `${run.name || run.id} ${run.status}`
  const detail = run.status === 'failed' && run.error ? ` · ${run.error.split('\n')[0]}` : ''
  return { title, body: `${run.stage} run, ${formatDuration(seconds)}${detail}` }
}

export function notificationPermission(): NotificationPermission | 'unsupported' {
  return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission
}

/** Asks the browser once (Electron grants without asking); returns whether we may notify. */
export async function askNotificationPermission(): Promise<boolean> {
  const now = notificationPermission()
  if (now === 'unsupported' || now === 'denied') return false
  if (now === 'granted') return true
  return (await Notification.requestPermission()) === 'granted'
}

/** Seconds a run took: from its start to its end (or now, when the store has no end yet). */
export function runSeconds(run: Pick<RunDetail, 'startedAt' | 'endedAt' | 'createdAt'>, now: number): number | undefined {
  const start = run.startedAt ?? run.createdAt
  return start ? ((run.endedAt ?? now) - start) / 1000 : undefined
}

/**
 * Listens for runs ending and notifies when shouldNotify says so. Returns the unsubscribe.
 * `notify` is injectable for tests; by default it shows a Notification that focuses the app.
 */
export function watchRunEndings(
  api: Pick<WorkbenchApi, 'on' | 'runsGet'>,
  enabled: () => boolean,
  notify: (title: string, body: string, runId: string) => void = showNotification,
): () => void {
  return api.on('run:update', async (update) => {
    if (!update.status || !ENDINGS.includes(update.status)) return
    if (!enabled() || !document.hidden || notificationPermission() !== 'granted') return
    const run = await api.runsGet({ id: update.id })
    const seconds = runSeconds(run, Date.now())
    const check = { status: update.status, seconds, hidden: document.hidden, enabled: enabled(), permission: notificationPermission() }
    if (!shouldNotify(check)) return
    const text = notificationText({ ...run, status: update.status }, seconds!)
    notify(text.title, text.body, run.id)
  })
}

function showNotification(title: string, body: string, runId: string): void {
  const n = new Notification(title, { body, tag: `workbench-run-${runId}` })
  n.onclick = () => {
    window.focus()
    location.hash = `#/runs/${encodeURIComponent(runId)}`
  }
}
