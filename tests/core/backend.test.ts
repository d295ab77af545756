// Backend choice and the kernels registered for wasm.
import { describe, it, expect, vi } from 'vitest'
import { backendPreference, describeBackend, initBackend } from '../../core/backend/index'
import { installDawn, missingVulkanLoader } from '../../core/backend/dawn'
import { describeAdapter, initWebGpu, isSoftwareAdapter } from '../../core/backend/webgpu'
import { tf } from '../../core/backend/tf'

describe('backend choice', () => {
  it('reads the preference from the argument, else WORKBENCH_BACKEND, else auto', () => {
    const saved = process.env.WORKBENCH_BACKEND
    try {
      delete process.env.WORKBENCH_BACKEND
      expect(backendPreference()).toBe('auto')
      process.env.WORKBENCH_BACKEND = 'cpu'
      expect(backendPreference()).toBe('cpu')
      expect(backendPreference('wasm')).toBe('wasm')
      process.env.WORKBENCH_BACKEND = 'tpu'
      expect(() => backendPreference()).toThrow('WORKBENCH_BACKEND "tpu" is not one of auto, node-gpu, webgpu, node, wasm, cpu')
    } finally {
      if (saved === undefined) delete process.env.WORKBENCH_BACKEND
      else process.env.WORKBENCH_BACKEND = saved
    }
  })

  it('initialises cpu and wasm, idempotently, and describes them', async () => {
    const cpu = await initBackend('cpu')
    expect(cpu).toMatchObject({ name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' })
    expect(await initBackend('cpu')).toBe(cpu)
    const wasm = await initBackend('wasm')
    expect(wasm.name).toBe('wasm')
    expect(wasm.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(wasm.device).toContain('wasm')
    expect(tf.getBackend()).toBe('wasm')
    expect(describeBackend()).toBe(wasm)
  })

  it('uses tfjs-node when it loads, and otherwise falls back to wasm with one warning naming it', async () => {
    let nativeLoads = true
    try {
      await import('@tensorflow/tfjs-node' as string)
    } catch {
      nativeLoads = false
    }
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      const info = await initBackend('node')
      if (nativeLoads) {
        expect(info).toMatchObject({ name: 'tensorflow', package: '@tensorflow/tfjs-node' })
        expect(tf.getBackend()).toBe('tensorflow')
        expect(warn).not.toHaveBeenCalled()
      } else {
        expect(info.name).toBe('wasm')
        expect(tf.getBackend()).toBe('wasm')
        expect(warn).toHaveBeenCalledTimes(1)
        expect(String(warn.mock.calls[0][0])).toContain('@tensorflow/tfjs-node')
      }
      expect(describeBackend()).toBe(info)
    } finally {
      warn.mockRestore()
    }
  })
})

describe('wasm kernels', () => {
  it('tf.gather has a gradient on wasm (UnsortedSegmentSum)', async () => {
    await initBackend('wasm')
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6]])
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d([0, 0, 2], 'int32')), tf.tensor2d([[1, 2], [3, 4], [5, 6]]))))(x)
    expect(Array.from(g.dataSync())).toEqual([4, 6, 0, 0, 5, 6])
  })

  it('the fast Unpack equals slicing on every axis', async () => {
    await initBackend('wasm')
    const x = tf.tensor3d(Array.from({ length: 24 }, (_, i) => i), [2, 3, 4])
    for (const axis of [0, 1, 2]) {
      const parts = tf.unstack(x, axis)
      expect(parts).toHaveLength(x.shape[axis])
      parts.forEach((p, i) => {
        const begin = [0, 0, 0]
        const size = [...x.shape]
        begin[axis] = i
        size[axis] = 1
        expect(Array.from(p.dataSync())).toEqual(Array.from(tf.slice(x, begin, size).dataSync()))
      })
    }
    const ints = tf.unstack(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'))
    expect(ints[1].dtype).toBe('int32')
    expect(Array.from(ints[1].dataSync())).toEqual([3, 4])
  })
})

describe('webgpu backend in Node', () => {
  // Dawn's binding (the npm package `webgpu`) is not a dependency, and where it is installed on a
  // machine without a usable GPU driver it finds no adapter: either way there is none here.
  it('--backend webgpu without an adapter fails, saying none was found and what to do', async () => {
    await expect(initBackend('webgpu')).rejects.toThrow(/^backend webgpu: no WebGPU adapter was found: .*npm install webgpu.*--backend auto/)
  })

  it('auto passes over webgpu without an adapter, to the next backend, naming it in its one warning', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {})
    try {
      const info = await initBackend('auto')
      expect(info.name).not.toBe('webgpu')
      expect(tf.getBackend()).toBe(info.name)
      expect(warn).toHaveBeenCalledTimes(1)
      expect(String(warn.mock.calls[0][0])).toContain('webgpu: no WebGPU adapter was found')
    } finally {
      warn.mockRestore()
    }
  })

  it('names the missing Dawn package', async () => {
    await expect(installDawn(async () => {
      throw new Error("Cannot find module 'webgpu'")
    }, () => null)).rejects.toThrow(`no WebGPU adapter was found: Node has no WebGPU of its own and Dawn's binding (the npm package "webgpu") could not be loaded (Cannot find module 'webgpu')`)
  })

  it('on Linux looks for the Vulkan loader before loading Dawn, and names it when it is missing', async () => {
    const noFiles = () => false
    expect(missingVulkanLoader('linux', {}, noFiles)).toMatch(/Linux has no Vulkan loader here \(libvulkan\.so\.1; Debian and Ubuntu: apt install libvulkan1\)/)
    expect(missingVulkanLoader('linux', { LD_LIBRARY_PATH: '/opt/gl/lib:/x' }, (f) => f === '/opt/gl/lib/libvulkan.so.1')).toBeNull()
    expect(missingVulkanLoader('linux', {}, (f) => f === '/usr/lib/x86_64-linux-gnu/libvulkan.so.1')).toBeNull()
    expect(missingVulkanLoader('darwin', {}, noFiles)).toBeNull()
    let loaded = false
    const load = async () => {
      loaded = true
      return {}
    }
    await expect(installDawn(load, () => 'no WebGPU adapter was found: no loader')).rejects.toThrow(/^no WebGPU adapter was found: no loader\. WebGPU in Node needs Dawn's binding/)
    expect(loaded).toBe(false)
  })

  it('installs Dawn as navigator.gpu, and says so when its requestAdapter finds no adapter', async () => {
    const nav = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
    try {
      await installDawn(async () => ({ create: () => ({ requestAdapter: async () => null }), globals: { GPUBufferUsage: { MAP_READ: 1 } } }), () => null)
      expect((globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage).toEqual({ MAP_READ: 1 })
      await expect(initWebGpu('(help)')).rejects.toThrow('no WebGPU adapter was found: navigator.gpu.requestAdapter() returned none (no GPU, or a driver WebGPU cannot use). (help)')
    } finally {
      delete (globalThis as { GPUBufferUsage?: unknown }).GPUBufferUsage
      if (nav) Object.defineProperty(globalThis, 'navigator', nav)
      else delete (globalThis as { navigator?: unknown }).navigator
      const left = (globalThis as { navigator?: { gpu?: unknown } }).navigator
      if (left && 'gpu' in left) delete left.gpu
    }
  })

  it('describes the adapter by vendor and architecture, and says when it is a software one', () => {
    expect(describeAdapter({ vendor: 'nvidia', architecture: 'ampere' })).toBe('WebGPU: nvidia / ampere')
    expect(describeAdapter({ vendor: 'google', architecture: 'swiftshader' })).toBe('WebGPU: google / swiftshader, software adapter (CPU)')
    expect(isSoftwareAdapter({ vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' })).toBe(true)
    expect(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3' })).toBe(false)
    expect(isSoftwareAdapter({ vendor: 'intel', architecture: 'gen-12lp', isFallbackAdapter: true })).toBe(true)
  })
})
