// System metrics of a run, as W&B's "System" charts show them: the job worker samples its own
// process every few seconds and logs them as ordinary metrics against the run's current step.
//   system/cpu_percent   CPU time used since the previous sample over the wall time, in % of one
//                        core (worker threads count too, so 4 busy threads read about 400 %)
//   system/rss_mb        resident memory of the process, MB (1 MB = 2^20 bytes); the training
//                        loop also logs it at every logged step (core/train/loop.ts)
//   system/backend_mb    memory held by tfjs tensors (tf.memory().numBytes), MB
//   system/wasm_heap_mb  on the wasm backend: the size of its linear memory (it grows, never
//                        shrinks), MB
import { tf } from '../backend/tf'
import type { Tracker } from '../tracking/types'

export const SYSTEM_METRICS = {
  cpu: 'system/cpu_percent',
  rss: 'system/rss_mb',
  backend: 'system/backend_mb',
  wasmHeap: 'system/wasm_heap_mb',
} as const

const MB = 1024 * 1024

/** The wasm backend's linear memory in bytes, or null on another backend. */
function wasmHeapBytes(): number | null {
  if (tf.getBackend() !== 'wasm') return null
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8
  return heap ? heap.buffer.byteLength : null
}

/** Samples this process. The first sample's CPU use is the average since the process started. */
export class SystemSampler {
  // cpuUsage() and performance.now() both count from the process start.
  private lastCpu = { user: 0, system: 0 }
  private lastWallMs = 0

  sample(): Record<string, number> {
    const cpu = process.cpuUsage()
    const wallMs = performance.now()
    const cpuMs = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000
    const elapsedMs = wallMs - this.lastWallMs
    this.lastCpu = cpu
    this.lastWallMs = wallMs
    const values: Record<string, number> = {
      [SYSTEM_METRICS.rss]: process.memoryUsage.rss() / MB,
      [SYSTEM_METRICS.backend]: tf.memory().numBytes / MB,
    }
    if (elapsedMs > 0) values[SYSTEM_METRICS.cpu] = (100 * cpuMs) / elapsedMs
    const heap = wasmHeapBytes()
    if (heap !== null) values[SYSTEM_METRICS.wasmHeap] = heap / MB
    return values
  }
}

/**
 * Logs a sample now and every `everyMs` until stopped; stop() logs a last one, so even a run of
 * a few steps has its system metrics at its start and its end. `step()` says which step a sample
 * belongs to (the run's latest progress).
 */
export function startSystemMetrics(tracker: Tracker, step: () => number, everyMs = 5000): { stop(): void } {
  const sampler = new SystemSampler()
  const log = () => tracker.logMetrics(step(), sampler.sample())
  log()
  const timer = setInterval(() => {
    try {
      log()
    } catch {
      // The tracker rethrows a failing store to the stage on its next call; nothing to add here.
    }
  }, everyMs)
  timer.unref()
  return {
    stop() {
      clearInterval(timer)
      log()
    },
  }
}
