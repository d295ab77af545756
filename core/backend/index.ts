// Picks and initialises the tfjs backend, best first: tfjs-node-gpu (CUDA), webgpu (any GPU through
// Dawn's Node binding: webgpu.ts, dawn.ts), tfjs-node (native CPU), wasm (SIMD), cpu (pure
// JavaScript). The native packages are optional dependencies that are often missing or broken, so
// each is tried inside a try/catch and we fall back with one clear warning.
import { createRequire } from 'node:module'
import path from 'node:path'
import type { BackendInfo } from '../train/stages/types'
import { tf } from './tf'
import { registerUnsortedSegmentSumWasm } from './kernels/unsortedSegmentSum'
import { registerFastUnpackWasm } from './kernels/unpack'
import { registerSharedIdentityWasm } from './kernels/identity'
import { registerNativeOps } from './kernels/nativeOps'
import { registerNativeMatMul } from './kernels/nativeMatMul'
import { installDawn, NODE_WEBGPU_HELP } from './dawn'
import { initWebGpu, WEBGPU_PACKAGE } from './webgpu'

export type BackendPreference = 'auto' | 'node-gpu' | 'webgpu' | 'node' | 'wasm' | 'cpu'
export const BACKEND_PREFERENCES: BackendPreference[] = ['auto', 'node-gpu', 'webgpu', 'node', 'wasm', 'cpu']
/** What `auto` tries, best first. */
export const AUTO_ORDER: BackendPreference[] = ['node-gpu', 'webgpu', 'node', 'wasm', 'cpu']

const require = createRequire(import.meta.url)
let current: BackendInfo | null = null
let currentPreference: BackendPreference | null = null
const warned = new Set<string>()

/** Reads the preference: the argument, else WORKBENCH_BACKEND, else 'auto'. */
export function backendPreference(pref?: string): BackendPreference {
  const chosen = (pref ?? process.env.WORKBENCH_BACKEND ?? 'auto').trim() || 'auto'
  if (!(BACKEND_PREFERENCES as string[]).includes(chosen)) {
    const source = pref !== undefined ? 'backend' : 'WORKBENCH_BACKEND'
    throw new Error(`${source} "${chosen}" is not one of ${BACKEND_PREFERENCES.join(', ')}`)
  }
  return chosen as BackendPreference
}

/**
 * Initialises the backend once. Calling it again with the same (or no) preference returns the
 * same BackendInfo; a different explicit preference switches backend.
 */
export async function initBackend(pref?: BackendPreference): Promise<BackendInfo> {
  const wanted = backendPreference(pref)
  if (current && (pref === undefined || wanted === currentPreference)) return current
  const order: BackendPreference[] = wanted === 'auto' ? [...AUTO_ORDER] : [wanted]
  const failures: string[] = []
  let chosen: BackendInfo | null = null
  for (const candidate of order) {
    try {
      chosen = await tryBackend(candidate)
      break
    } catch (err) {
      failures.push(`${candidate}: ${firstLine(err)}`)
      // An explicit native choice still falls back (never crash), but to the best plain backend.
      // An explicit webgpu choice does not: without an adapter it fails with what to do, since a
      // run someone asked to put on the GPU should not quietly take hours on the CPU.
      if (wanted !== 'auto' && (candidate === 'node-gpu' || candidate === 'node')) order.push('wasm', 'cpu')
    }
  }
  if (!chosen && wanted === 'webgpu') throw new Error(`backend webgpu: ${failures[0].replace(/^webgpu: /, '')}`)
  if (!chosen) throw new Error(`no tfjs backend could be initialised:\n  ${failures.join('\n  ')}`)
  current = chosen
  currentPreference = wanted
  // One warning (once per process) when a faster backend was unavailable: silence would hide why
  // training is slow.
  const tried = failures.map((f) => f.split(':')[0]).join(', ')
  if (failures.length > 0 && !warned.has(tried)) {
    warned.add(tried)
    console.warn(`[workbench] backend ${tried} unavailable, using ${chosen.name} (${chosen.device}). ` +
      `Details: ${failures.join('; ')}`)
  }
  return chosen
}

/** The backend chosen by initBackend (throws when initBackend has not run yet). */
export function describeBackend(): BackendInfo {
  if (!current) throw new Error('describeBackend() called before initBackend()')
  return current
}

async function tryBackend(candidate: BackendPreference): Promise<BackendInfo> {
  switch (candidate) {
    case 'node-gpu':
      return initNative('@tensorflow/tfjs-node-gpu', 'CUDA GPU')
    case 'webgpu':
      return initWebGpuInNode()
    case 'node':
      return initNative('@tensorflow/tfjs-node', 'CPU (libtensorflow)')
    case 'wasm':
      return initWasm()
    case 'cpu':
      return initCpu()
    default:
      throw new Error(`unknown backend ${candidate}`)
  }
}

/** tfjs-node / tfjs-node-gpu register the 'tensorflow' backend when required. */
async function initNative(pkg: string, device: string): Promise<BackendInfo> {
  require(pkg) // throws MODULE_NOT_FOUND when the optional dependency did not install
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but the tensorflow backend did not initialise`)
  return { name: 'tensorflow', package: pkg, version: packageVersion(pkg), device }
}

/** WebGPU through Dawn's Node binding (where no navigator.gpu exists yet). */
async function initWebGpuInNode(): Promise<BackendInfo> {
  await installDawn()
  const info = await initWebGpu(NODE_WEBGPU_HELP)
  return { ...info, version: packageVersion(WEBGPU_PACKAGE) }
}

async function initWasm(): Promise<BackendInfo> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm')
  // In Node the .wasm binaries are read from the package folder on disk.
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))
  wasm.setWasmPaths(distDir + path.sep)
  registerUnsortedSegmentSumWasm()
  registerFastUnpackWasm()
  registerSharedIdentityWasm()
  const native = registerNativeMatMul('wasm')
  registerNativeOps('wasm')
  const listenersBefore = processErrorListeners()
  const ok = await tf.setBackend('wasm')
  removeListenersAddedSince(listenersBefore)
  if (!ok) throw new Error('the wasm backend did not initialise')
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')
  return {
    name: 'wasm',
    package: '@tensorflow/tfjs-backend-wasm',
    version: packageVersion('@tensorflow/tfjs-backend-wasm'),
    // One thread per tfjs instance; training adds threads as gradient workers (train/parallel).
    device: `CPU (wasm${simd ? ' SIMD' : ''}${native ? ', native FMA matmul' : ''})`,
  }
}

async function initCpu(): Promise<BackendInfo> {
  const native = registerNativeMatMul('cpu')
  registerNativeOps('cpu')
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend did not initialise')
  // The cpu backend prints a "looks like you are running in Node" banner on first use; we already
  // chose it knowingly (and warned above if a faster one was wanted), so switch that banner off.
  ;(tf.backend() as unknown as { firstUse?: boolean }).firstUse = false
  return { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', version: packageVersion('@tensorflow/tfjs-backend-cpu'), device: `CPU (JavaScript${native ? ', native FMA matmul' : ''})` }
}

type ErrorListener = (...args: unknown[]) => void
function processErrorListeners(): Record<'uncaughtException' | 'unhandledRejection', ErrorListener[]> {
  return {
    uncaughtException: process.listeners('uncaughtException') as unknown as ErrorListener[],
    unhandledRejection: process.listeners('unhandledRejection') as unknown as ErrorListener[],
  }
}

/**
 * The emscripten loader of the wasm backend installs process-wide handlers that rethrow every
 * uncaught error from inside its 30 kB minified line, so Node prints that line instead of a readable
 * error. Removing them restores Node's normal behaviour; tfjs does not need them.
 */
function removeListenersAddedSince(before: ReturnType<typeof processErrorListeners>): void {
  const events = ['uncaughtException', 'unhandledRejection'] as const
  for (const event of events) {
    for (const listener of process.listeners(event as 'uncaughtException') as ErrorListener[]) {
      if (!before[event].includes(listener)) process.removeListener(event as 'uncaughtException', listener)
    }
  }
}

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version
  } catch {
    return tf.version_core
  }
}

function firstLine(err: unknown): string {
  return String(err instanceof Error ? err.message : err).split('\n')[0]
}
