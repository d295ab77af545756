// Every kernel the model dispatches on the WebGPU backend must be registered for it: a missing one
// would only show as an error in the middle of someone's run. The model takes the same route on
// WebGPU as with the native matmul (tfjs's flagged matMul, a growing KV cache: matmulRoute.ts,
// kvcache.ts), so that route is taken here on wasm, every kernel of a forward pass, the gradients of
// the LM loss, an AdamW step and KV-cache generation is recorded (tf.profile), and each is looked up
// in the registry @tensorflow/tfjs-backend-webgpu fills when imported (which needs no GPU).
// tests/core/webgpu.browser.test.ts then runs the same work on a real WebGPU adapter.
import { describe, it, expect, vi } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { generateBatch } from '../../core/model/generate'
import { Llama } from '../../core/model/llama'
import { AdamW } from '../../core/train/adamw'
import { TINY_CONFIG } from '../../scripts/webgpu/workload'

// The WebGPU route: flagged matmuls, and a KV cache that grows by concatenation (its in-place
// writes need the native matmul's memory access, which WebGPU does not have).
vi.mock('../../core/backend/matmulRoute', () => ({ flaggedMatMulIsFast: () => true }))
vi.mock('../../core/backend/kernels/nativeMatMul', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../core/backend/kernels/nativeMatMul')>()),
  nativeMatMulActive: () => false,
}))

/**
 * The names of the kernels `work` dispatches on the current backend. tf.profile also lists each
 * tf.customGrad forward function (as "unnamed scope"); only names registered as kernels of the
 * backend that ran them are kernels.
 */
async function kernelsOf(work: () => Promise<void>): Promise<string[]> {
  const profile = await tf.profile(work)
  const names = new Set(profile.kernels.map((k) => k.name))
  return [...names].filter((name) => tf.getKernel(name, tf.getBackend())).sort()
}

async function modelKernels(): Promise<string[]> {
  const model = Llama.create(TINY_CONFIG, 1)
  const optimizer = new AdamW(model.weights)
  const tokens = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]], [2, 8], 'int32')
  const targets = tf.tensor2d([[2, 3, 4, 5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15, 16, 17]], [2, 8], 'int32')
  const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 1, 1]], [2, 8], 'int32')
  const names = await kernelsOf(async () => {
    tf.dispose(model.logits(tokens))
    const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets, mask))
    optimizer.applyGradients(grads)
    tf.dispose([value, ...Object.values(grads)])
    await generateBatch(model, [[1, 2, 3], [4, 5]], { maxNewTokens: 4, temperature: 0.8, topK: 5, seed: 1 })
  })
  tf.dispose([tokens, targets, mask])
  optimizer.dispose()
  model.dispose()
  return names
}

describe('WebGPU kernel coverage', () => {
  it('registers a WebGPU kernel for every kernel the model\'s forward, backward, AdamW step and generation dispatch', async () => {
    // WebGPU runs neither the native matmul nor the fused native kernels (RMSNorm, SwiGLU): both are
    // registered for wasm and cpu only. Recorded without the addon, wasm dispatches what WebGPU would.
    process.env.WORKBENCH_NATIVE_MATMUL = '0'
    await initBackend('wasm')
    const names = await modelKernels()
    // The recording saw the whole step: the embedding gradient (gatherRows' scatter), the fused
    // log-softmax pick (targetLogProbs' one-hot), attention's batched matmuls, AdamW's sqrt, the cache's concat.
    expect(names).toEqual(expect.arrayContaining(['ScatterNd', 'OneHot', 'BatchMatMul', 'Sqrt', 'GatherV2', 'Concat']))
    await import('@tensorflow/tfjs-backend-webgpu')
    const missing = names.filter((name) => !tf.getKernel(name, 'webgpu'))
    expect(missing, `kernels without a WebGPU implementation (of ${names.join(', ')})`).toEqual([])
  })

  it('has WebGPU\'s own version of every kernel workbench replaces on wasm (core/backend/kernels)', async () => {
    await import('@tensorflow/tfjs-backend-webgpu')
    // UnsortedSegmentSum (missing on wasm), Unpack and Identity (faster copies on wasm), BatchMatMul
    // (the native matmul, wasm and cpu only): WebGPU uses tfjs's own, so nothing is registered over them.
    for (const name of ['UnsortedSegmentSum', 'Unpack', 'Identity', 'BatchMatMul']) expect(tf.getKernel(name, 'webgpu'), name).toBeDefined()
  })

  it('the check notices a kernel WebGPU lacks', async () => {
    await import('@tensorflow/tfjs-backend-webgpu')
    // tfjs's string kernels have no WebGPU version.
    expect(tf.getKernel('StringSplit', 'webgpu')).toBeUndefined()
    expect(tf.getKernel('BatchMatMul', 'webgpu')).toBeDefined()
  })
})
