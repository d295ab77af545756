// Where a run's threads go (core/train/parallel/threads.ts threadPlan): inside the native matmul
// with one model by default, gradient workers when asked or when there is no native matmul.
import { describe, it, expect } from 'vitest'
import { threadPlan } from '../../core/train/parallel/threads'

describe('threadPlan', () => {
  it('puts threads inside the native matmul by default: no replica', () => {
    expect(threadPlan(4, 'kernel', 'wasm', 8, true, true)).toEqual({ threads: 4, mode: 'kernel', kernelThreads: 4, workers: 0 })
  })

  it('runs gradient workers when asked, each matmul then on one thread, never more threads than rows', () => {
    expect(threadPlan(4, 'workers', 'wasm', 8, true, true)).toEqual({ threads: 4, mode: 'workers', kernelThreads: 1, workers: 3 })
    expect(threadPlan(4, 'workers', 'cpu', 2, true, true)).toEqual({ threads: 2, mode: 'workers', kernelThreads: 1, workers: 1 })
  })

  it('falls back to workers without the native matmul, and to kernel threads for a task without replicas (LoRA)', () => {
    expect(threadPlan(2, 'kernel', 'wasm', 8, false, true)).toEqual({ threads: 2, mode: 'workers', kernelThreads: 1, workers: 1 })
    expect(threadPlan(2, 'workers', 'wasm', 8, true, false)).toEqual({ threads: 2, mode: 'kernel', kernelThreads: 2, workers: 0 })
    expect(threadPlan(2, 'kernel', 'wasm', 8, false, false)).toEqual({ threads: 1, mode: 'workers', kernelThreads: 1, workers: 0 })
  })

  it('uses one thread on the native tensorflow backend (it threads by itself)', () => {
    expect(threadPlan(4, 'kernel', 'tensorflow', 8, false, true).threads).toBe(1)
    expect(threadPlan(4, 'workers', 'tensorflow', 8, false, true).workers).toBe(0)
  })
})
