// Is the process that owns a running run still there? Used on every store open to turn runs
// whose process died (SIGKILL, power cut, crash) into 'interrupted'.

import os from 'node:os'

export function currentHost(): string {
  return os.hostname()
}

/** True when a process with this pid exists on this machine (signal 0 only checks). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export interface OwnerInfo {
  pid: number | null
  hostname: string | null
  heartbeatAt: number | null
  startedAt: number | null
}

/**
 * Why a 'running' run's owner is considered gone, or null when it may still be alive.
 * Same host: the pid must be alive. Any host: the last heartbeat must be recent, which also
 * catches a pid reused by an unrelated process after a crash.
 */
export function ownerGoneReason(owner: OwnerInfo, staleAfterMs: number, now = Date.now()): string | null {
  const lastSign = owner.heartbeatAt ?? owner.startedAt
  if (owner.hostname === currentHost() && owner.pid !== null && !isProcessAlive(owner.pid)) {
    return `process ${owner.pid} on ${owner.hostname} is gone`
  }
  if (lastSign === null) return 'no process ever started it'
  if (now - lastSign > staleAfterMs) {
    const minutes = Math.round((now - lastSign) / 60000)
    return `no heartbeat for ${minutes} min from process ${owner.pid ?? '?'} on ${owner.hostname ?? '?'}`
  }
  return null
}

export interface QueuedOwnerInfo {
  /** The process that recorded the run and was to start its worker (the job runner). */
  pid: number | null
  hostname: string | null
  createdAt: number
}

/**
 * Why a 'queued' run will never start, or null when its owner may still start it. A run is
 * recorded as queued by the job runner's process, which then starts a worker; if that process is
 * killed in between, nothing else would ever start the run. Same host: the owner's pid must be
 * alive. Another host cannot be checked (a queue may wait for hours), so it is left alone. A run
 * with no owner recorded (an older workbench) counts as gone once it is older than staleAfterMs.
 */
export function queuedOwnerGoneReason(owner: QueuedOwnerInfo, staleAfterMs: number, now = Date.now()): string | null {
  if (owner.pid === null) {
    if (now - owner.createdAt <= staleAfterMs) return null
    return `queued ${Math.round((now - owner.createdAt) / 60000)} min ago and no process is known to own it`
  }
  if (owner.hostname === currentHost() && !isProcessAlive(owner.pid)) {
    return `process ${owner.pid} on ${owner.hostname}, which queued it, is gone; its worker never started`
  }
  return null
}
