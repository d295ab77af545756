// The WebGPU backend (@tensorflow/tfjs-backend-webgpu): the GPU through Metal, Vulkan or Direct3D 12,
// wherever a WebGPU implementation gives this JavaScript environment a `navigator.gpu`: a Chromium
// page (the correctness tests and the bench, tests/webgpu/), or a Node job worker with Dawn's Node
// binding (core/backend/dawn.ts installs it). This file imports nothing from Node, so the same code
// initialises the backend in both places. The backend package is imported lazily: loading it costs
// Node startup time that runs on other backends should not pay.
import type { BackendInfo } from '../train/stages/types'
import { tf } from './tf'

export const WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu'

/** What a GPUAdapter tells about itself (adapter.info, or requestAdapterInfo() in older engines). */
export interface AdapterInfoLike {
  vendor?: string
  architecture?: string
  device?: string
  description?: string
  /** Newer engines report a software (fallback) adapter here, older ones on the adapter itself. */
  isFallbackAdapter?: boolean
}

interface AdapterLike {
  info?: AdapterInfoLike
  isFallbackAdapter?: boolean
  requestAdapterInfo?: () => Promise<AdapterInfoLike>
}

export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'high-performance' | 'low-power' }): Promise<AdapterLike | null>
}

/** The environment's WebGPU entry point, or undefined (plain Node has none). */
export function navigatorGpu(): GpuLike | undefined {
  return (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu
}

/**
 * Software adapters (SwiftShader, Mesa's lavapipe / llvmpipe) run WebGPU on the CPU: correct, but
 * no faster than the wasm backend, so every figure measured on one must say so.
 */
export function isSoftwareAdapter(info: AdapterInfoLike, adapter?: { isFallbackAdapter?: boolean }): boolean {
  if (info.isFallbackAdapter || adapter?.isFallbackAdapter) return true
  const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.device ?? ''} ${info.description ?? ''}`.toLowerCase()
  return /swiftshader|lavapipe|llvmpipe|software/.test(text)
}

/** "WebGPU: nvidia / ampere" plus ", software adapter (CPU)" where it is one. */
export function describeAdapter(info: AdapterInfoLike, adapter?: { isFallbackAdapter?: boolean }): string {
  const vendor = info.vendor || 'unknown vendor'
  const architecture = info.architecture || info.description || 'unknown architecture'
  return `WebGPU: ${vendor} / ${architecture}${isSoftwareAdapter(info, adapter) ? ', software adapter (CPU)' : ''}`
}

/**
 * Initialises tfjs on the WebGPU adapter of this environment. Throws "no WebGPU adapter was found"
 * (with `help` appended: what the caller's user can do) when there is none.
 */
export async function initWebGpu(help: string): Promise<BackendInfo> {
  const gpu = navigatorGpu()
  if (!gpu) throw new Error(`no WebGPU adapter was found: this JavaScript environment has no navigator.gpu. ${help}`)
  // The same request tfjs's backend factory makes (high-performance unless WEBGPU_USE_LOW_POWER_GPU),
  // so the adapter described here is the one the backend runs on.
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' })
  if (!adapter) throw new Error(`no WebGPU adapter was found: navigator.gpu.requestAdapter() returned none (no GPU, or a driver WebGPU cannot use). ${help}`)
  const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {}
  await import('@tensorflow/tfjs-backend-webgpu')
  // The package registers its backend only when navigator.gpu existed when it was first imported.
  if (!tf.findBackendFactory('webgpu')) {
    throw new Error(`${WEBGPU_PACKAGE} was loaded before navigator.gpu existed, so it registered no backend; install the WebGPU binding before the first import of the package`)
  }
  if (!(await tf.setBackend('webgpu'))) throw new Error(`a WebGPU adapter was found (${describeAdapter(info, adapter)}) but the ${WEBGPU_PACKAGE} backend did not initialise`)
  // The webgpu package is released in lockstep with tfjs-core (package.json pins both to one version).
  return { name: 'webgpu', package: WEBGPU_PACKAGE, version: tf.version_core, device: describeAdapter(info, adapter) }
}
