// BatchMatMul through the native matmul (native/fastgemm), for the wasm and cpu backends.
// XNNPACK's wasm matmul runs at about 23 GFLOP/s on one core (128-bit SIMD, no fused
// multiply-add) and matmuls are about three quarters of a training step; the native kernel uses
// the CPU's 256-bit FMA (about 90-100 GFLOP/s here, bench/model.ts). It reads and writes the
// tensors where they live (the wasm heap, or the cpu backend's arrays), so nothing is copied, and
// handles transposes and batch broadcasting itself. Shapes it does not cover go to the backend's
// own kernel. The addon is built at install (scripts/build-native.mjs); without it nothing changes.
//
// Threads: the addon splits one matmul's output across a pool of native threads (one per core by
// default; setNativeMatMulThreads), so a single model in a single process uses every core. The
// result is bitwise the same for any thread count (each output block is computed by one thread in
// the same order).
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tf } from '../tf'
import { memoryOf, type KernelArgs, type WithMemory } from './backendMemory'
import { isOverridden, overrideKernel } from './override'

export interface FastGemm {
  supported(): boolean
  /** Threads per matmul from now on (0 = one per core); returns the count in force. */
  setThreads(count: number): number
  /** Threads per matmul in force. */
  threads(): number
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, m: number, n: number, k: number,
    transposeA: boolean, transposeB: boolean, broadcastA: boolean, broadcastB: boolean): void
}

const ADDON = path.join('native', 'fastgemm', 'build', 'Release', 'fastgemm.node')
let addon: FastGemm | null | undefined

/**
 * The addon, or null (not built, this CPU lacks AVX2/FMA, or WORKBENCH_NATIVE_MATMUL=0). Looked
 * for in the folders above this file, so it is found from the sources and from a bundle.
 */
export function loadFastGemm(): FastGemm | null {
  if (addon !== undefined) return addon
  addon = null
  if (process.env.WORKBENCH_NATIVE_MATMUL === '0') return addon
  const require = createRequire(import.meta.url)
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const file = path.join(dir, ADDON)
    if (fs.existsSync(file)) {
      try {
        const loaded = require(file) as FastGemm
        if (loaded.supported()) addon = loaded
      } catch {
        // A broken build (e.g. for another Node ABI) is the same as none: the wasm matmul is used.
      }
      break
    }
    if (path.dirname(dir) === dir) break
  }
  return addon
}

/**
 * Sets how many threads each native matmul may use (0 = one per core) and returns the count in
 * force, or null without the addon. Process-wide: gradient workers, which run their own matmuls
 * in parallel, set it to 1.
 */
export function setNativeMatMulThreads(count: number): number | null {
  const gemm = loadFastGemm()
  // An addon built before the thread pool existed has no setThreads: it runs on one thread.
  if (!gemm || typeof gemm.setThreads !== 'function') return null
  return gemm.setThreads(count)
}

/** The batch shape, rows, columns and inner size of op(a) @ op(b); null when not covered. */
function plan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean) {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null
  const ra = a.shape.length
  const rb = b.shape.length
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2]
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1]
  const kB = transposeB ? b.shape[rb - 1] : b.shape[rb - 2]
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1]
  if (k !== kB) return null // the backend's kernel gives tfjs's own error message
  const batchShapeA = a.shape.slice(0, -2)
  const batchShapeB = b.shape.slice(0, -2)
  const batchA = tf.util.sizeFromShape(batchShapeA)
  const batchB = tf.util.sizeFromShape(batchShapeB)
  // Same batch shape, or one side a single matrix for every item; other broadcasts go to tfjs.
  const same = batchShapeA.join(',') === batchShapeB.join(',')
  if (!same && batchA !== 1 && batchB !== 1) return null
  const batchShape = batchA >= batchB ? batchShapeA : batchShapeB
  const batch = Math.max(batchA, batchB)
  return { m, n, k, batch, outShape: [...batchShape, m, n], broadcastA: batchA === 1 && batch > 1, broadcastB: batchB === 1 && batch > 1 }
}


/** The BatchMatMul kernel: native where plan() covers the shapes, else the backend's own kernel. */
function nativeKernel(gemm: FastGemm, fallback: tf.KernelFunc, withMemory: WithMemory) {
  return (args: KernelArgs): tf.TensorInfo => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo }
    const transposeA = Boolean(args.attrs?.transposeA)
    const transposeB = Boolean(args.attrs?.transposeB)
    const p = plan(a, b, transposeA, transposeB)
    if (!p) return fallback(args as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo
    return withMemory(args.backend, [a, b], [p.outShape], ([av, bv], [c]) =>
      gemm.matmul(av, bv, c, p.batch, p.m, p.n, p.k, transposeA, transposeB, p.broadcastA, p.broadcastB))[0]
  }
}

/**
 * True when the current backend's matmuls go through the native kernel, which takes transpose
 * flags and batches at full speed: model code can then skip the explicit transposes and 2-D
 * splitting it does for XNNPACK's sake (model/kernels/linear.ts, batchMatMul.ts).
 */
export function nativeMatMulActive(): boolean {
  return isOverridden('BatchMatMul', tf.getBackend())
}

/**
 * Routes `backendName`'s BatchMatMul through the native matmul. Returns false (and changes
 * nothing) when the addon is unavailable.
 */
export function registerNativeMatMul(backendName: 'wasm' | 'cpu'): boolean {
  const gemm = loadFastGemm()
  if (!gemm) return false
  return overrideKernel('BatchMatMul', backendName, (fallback) => nativeKernel(gemm, fallback, memoryOf(backendName)) as unknown as tf.KernelFunc)
}
