// How many threads a training run uses. tfjs's wasm and cpu backends compute on one thread, so
// more cores help only through data parallelism (gradient workers, see gradientWorkers.ts); the
// native tensorflow backend spreads its own work over the cores (or runs on the GPU).
import os from 'node:os'

export function availableCores(): number {
  return os.availableParallelism?.() ?? os.cpus().length
}

/**
 * `setting` is the run's `threads` value: 0 means one per core. Never more threads than sequences
 * in a micro-batch (each thread takes at least one row), and one on native backends.
 */
export function trainingThreads(setting: number, backend: string, batchSize: number): number {
  if (backend !== 'wasm' && backend !== 'cpu') return 1
  const wanted = setting > 0 ? setting : availableCores()
  return Math.max(1, Math.min(wanted, batchSize))
}
