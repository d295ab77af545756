// Dawn's Node binding (the npm package `webgpu`, prebuilt for Linux, macOS and Windows) gives a
// Node job worker the WebGPU that Chromium and Electron have (their WebGPU is Dawn too), so a
// `--backend webgpu` run is an ordinary worker process with the ordinary job protocol and store.
// It is optional: where it is missing, or finds no adapter, the webgpu backend fails with what to do.
import fs from 'node:fs'
import path from 'node:path'
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

/** Where Linux distributions put the Vulkan loader, beside LD_LIBRARY_PATH's folders. */
const LINUX_LIBRARY_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/lib64', '/usr/local/lib']

/**
 * On Linux, Dawn reaches the GPU through Vulkan alone, so without the Vulkan loader
 * (libvulkan.so.1) there can be no adapter. Checked before Dawn is loaded, because Dawn's own
 * complaint is a line on stderr that would follow every `auto` start on such a machine.
 */
export function missingVulkanLoader(platform = process.platform, env = process.env, exists = fs.existsSync): string | null {
  if (platform !== 'linux') return null
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...LINUX_LIBRARY_DIRS]
  if (dirs.some((dir) => exists(path.join(dir, 'libvulkan.so.1')))) return null
  return 'no WebGPU adapter was found: Linux has no Vulkan loader here (libvulkan.so.1; Debian and Ubuntu: apt install libvulkan1), ' +
    'which Dawn needs to reach a GPU'
}

/** The package is an ES module (with its prebuilt dawn.node per platform), so it is imported, not required. */
const importDawn = (name: string): Promise<unknown> => import(name)

/**
 * Gives this process a navigator.gpu from Dawn, unless it already has one. Throws a "no WebGPU
 * adapter was found" error naming the missing package when Dawn cannot be loaded.
 */
export async function installDawn(load: (name: string) => Promise<unknown> = importDawn, driverProblem: () => string | null = missingVulkanLoader): Promise<void> {
  if (navigatorGpu()) return
  const problem = driverProblem()
  if (problem) throw new Error(`${problem}. ${NODE_WEBGPU_HELP}`)
  let dawn: DawnModule
  try {
    dawn = (await load(DAWN_PACKAGE)) as DawnModule
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
