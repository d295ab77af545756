// Dawn's Node binding (the npm package `webgpu`, prebuilt for Linux, macOS and Windows) gives a
// Node job worker the WebGPU that Chromium and Electron have (their WebGPU is Dawn too), so a
// `--backend webgpu` run is an ordinary worker process with the ordinary job protocol and store.
// It is optional: where it is missing, or finds no adapter, the webgpu backend fails with what to do.
import { createRequire } from 'node:module'
import { navigatorGpu, type GpuLike } from './webgpu'

export const DAWN_PACKAGE = 'webgpu'

/** What a user without a WebGPU adapter in Node can do (appended to the "no adapter" errors). */
export const NODE_WEBGPU_HELP =
  `WebGPU in Node needs Dawn's binding (npm install ${DAWN_PACKAGE}) and a GPU driver it can use: ` +
  'Metal (macOS), Direct3D 12 (Windows) or Vulkan (Linux; Mesa\'s lavapipe on Debian 12 is not enough). ' +
  'Otherwise choose another backend: --backend auto picks the best one available.'

interface DawnModule {
  create(options: string[]): GpuLike
  /** GPUBufferUsage, GPUMapMode, ...: the constants tfjs's WebGPU backend reads from globalThis. */
  globals: Record<string, unknown>
}

const require = createRequire(import.meta.url)

/**
 * Gives this process a navigator.gpu from Dawn, unless it already has one. Throws a "no WebGPU
 * adapter was found" error naming the missing package when Dawn cannot be loaded.
 */
export function installDawn(load: (name: string) => unknown = require): void {
  if (navigatorGpu()) return
  let dawn: DawnModule
  try {
    dawn = load(DAWN_PACKAGE) as DawnModule
  } catch (err) {
    const why = String(err instanceof Error ? err.message : err).split('\n')[0]
    throw new Error(`no WebGPU adapter was found: Node has no WebGPU of its own and Dawn's binding (the npm package "${DAWN_PACKAGE}") could not be loaded (${why}). ${NODE_WEBGPU_HELP}`)
  }
  Object.assign(globalThis, dawn.globals)
  const gpu = dawn.create([])
  // Node 21+ has a navigator object without gpu; Node 20 has none.
  const nav = (globalThis as { navigator?: object }).navigator
  if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true })
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true })
}
