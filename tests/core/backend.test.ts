// Backend choice and the kernels registered for wasm.
import { describe, it, expect, vi } from 'vitest'
import { backendPreference, describeBackend, initBackend } from '../../core/backend/index'
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
      expect(() => backendPreference()).toThrow('WORKBENCH_BACKEND "tpu" is not one of auto, node-gpu, node, wasm, cpu')
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
