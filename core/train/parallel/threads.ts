// How many threads a training run uses, and where. tfjs's wasm and cpu backends compute on one
// thread; more cores help in two ways:
//   kernel:  threads inside the native matmul (native/fastgemm's pool): one model in memory, the
//            matmuls (most of a step's work) split across cores, the rest of the step on one.
//   workers: data parallelism (gradient workers, see gradientWorkers.ts): each thread holds a
//            model replica and runs the whole step on a share of the batch.
// The native tensorflow backend spreads its own work over the cores (or runs on the GPU).
import os from 'node:os'
import type { ThreadMode } from '../stages/common'

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

export interface ThreadPlan {
  /** Threads the step runs on (1 = the main thread only), the way `mode` says. */
  threads: number
  mode: ThreadMode
  /** Threads per native matmul call: `threads` in kernel mode, 1 with workers (each worker is a thread already). */
  kernelThreads: number
  /** Gradient workers besides the main thread (threads - 1 in workers mode, else 0). */
  workers: number
}

/**
 * Where a run's threads go. Kernel threads need the native matmul (nativeMatMul); without it, or
 * when the task cannot build replicas (`replicable` false), the other mode is used if it can be.
 */
export function threadPlan(setting: number, mode: ThreadMode, backend: string, batchSize: number, nativeMatMul: boolean, replicable: boolean): ThreadPlan {
  const cpuBackend = backend === 'wasm' || backend === 'cpu'
  const wanted = !cpuBackend ? 1 : setting > 0 ? setting : availableCores()
  const useKernel = nativeMatMul && (mode === 'kernel' || !replicable)
  if (useKernel) return { threads: wanted, mode: 'kernel', kernelThreads: wanted, workers: 0 }
  const threads = replicable ? trainingThreads(setting, backend, batchSize) : 1
  return { threads, mode: 'workers', kernelThreads: 1, workers: threads - 1 }
}
