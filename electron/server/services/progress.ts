// A run's progress as the page shows it: the row its process recorded in the store (the same for
// every viewer, whoever launched the run), with the ETA counted down by the time since it was
// recorded.

import type { RunProgress, RunStatus } from '../../../core/tracking/types'
import type { Progress } from '../../shared/api'

export function viewProgress(p: RunProgress | undefined, status: RunStatus, now = Date.now()): Progress | undefined {
  if (!p) return undefined
  const { updatedAt, ...shown } = p
  // Only a running run is still counting down; a stopped one shows what it had left when it stopped.
  if (status === 'running' && shown.etaSeconds !== undefined) shown.etaSeconds = Math.max(0, shown.etaSeconds - Math.max(0, now - updatedAt) / 1000)
  return shown
}
