// The model on tfjs's WebGPU backend, in Chromium (scripts/webgpu/harness.ts): a tiny Llama's
// logits, the gradients of its masked LM loss and one AdamW step must agree with the wasm backend
// in Node and with PyTorch, at the tolerances the cpu and wasm backends meet in model.torch.test.ts,
// and greedy generation must pick the same tokens as on wasm.
// Needs a Chromium with a WebGPU adapter (on machines without a GPU its software adapter,
// SwiftShader) and, for the PyTorch part, torch: skipped without them, failed in CI
// (tests/references.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend/index'
import { openWebGpuPage, type WebGpuPage } from '../../scripts/webgpu/harness'
import { greedyTokens, makeStepCase, runStepCase, type StepCase, type StepResult } from '../../scripts/webgpu/workload'
import { describeWith, torchPython } from '../references'
import { relativeError, maxAbsDifference } from '../numerics'

const TORCH_SCRIPT = path.resolve(__dirname, '../fixtures/torch/llama_ref.py')

/** model.torch.test.ts's tolerances: logits 1e-5 and gradients 1e-4 relative, losses to 5 and 4 digits, weights within 1% of a step. */
function expectAgreement(gpu: StepResult, ref: StepResult, c: StepCase): void {
  expect(gpu.logits).toHaveLength(ref.logits.length)
  expect(relativeError(gpu.logits, ref.logits)).toBeLessThan(1e-5)
  expect(gpu.loss).toBeCloseTo(ref.loss, 5)
  expect(Object.keys(gpu.grads).sort()).toEqual(Object.keys(ref.grads).sort())
  for (const [name, g] of Object.entries(ref.grads)) expect(relativeError(gpu.grads[name], g), name).toBeLessThan(1e-4)
  for (const [name, w] of Object.entries(ref.weights_after)) expect(maxAbsDifference(gpu.weights_after[name], w), name).toBeLessThan(c.lr * 1e-2)
  expect(gpu.loss_after).toBeCloseTo(ref.loss_after, 4)
  expect(gpu.loss_after).toBeLessThan(gpu.loss)
}

describeWith('chromium-webgpu', 'the model on WebGPU in Chromium', () => {
  const stepCase = makeStepCase()
  let page: WebGpuPage
  let gpu: StepResult

  beforeAll(async () => {
    page = await openWebGpuPage()
    gpu = await page.runStepCase(stepCase)
  }, 600_000)

  afterAll(async () => {
    await page?.close()
  })

  it('runs on the webgpu backend and records the adapter\'s vendor and architecture', () => {
    expect(page.backend).toMatchObject({ name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu' })
    expect(page.backend.device).toMatch(/^WebGPU: \S+ \/ \S+/)
  })

  it('agrees with the wasm backend on logits, loss, gradients and an AdamW step', async () => {
    await initBackend('wasm')
    expectAgreement(gpu, await runStepCase(stepCase), stepCase)
  })

  it('generates the same greedy tokens as wasm (KV cache, rows of different lengths)', async () => {
    const prompts = [[1, 2, 3, 4, 5], [6, 7]]
    const onGpu = await page.greedyTokens(stepCase, prompts, 8)
    await initBackend('wasm')
    expect(onGpu).toEqual(await greedyTokens(stepCase, prompts, 8))
    expect(onGpu.map((ids) => ids.length)).toEqual([8, 8])
  })

  it('clips by the global norm of many gradients (more than one shader can bind)', async () => {
    // A model has dozens of parameters; WebGPU binds at most 8 storage buffers per shader, which
    // addN over every gradient's square exceeded (its pipeline was invalid: norm 0, no clipping).
    const values = Array.from({ length: 20 }, (_, i) => [i + 1, -(i + 2), 0.5])
    const expected = Math.sqrt(values.flat().reduce((a, v) => a + v * v, 0))
    const { norm, firstClipped } = await page.globalNorm(values, 1)
    expect(norm).toBeCloseTo(expected, 3)
    expect(firstClipped[0]).toBeCloseTo(1 / expected, 5)
  })

  describeWith('torch', 'against PyTorch', () => {
    it('agrees with PyTorch on logits, loss, gradients and an AdamW step', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-webgpu-'))
      try {
        const [input, output] = [path.join(dir, 'input.json'), path.join(dir, 'output.json')]
        fs.writeFileSync(input, JSON.stringify(stepCase))
        const run = spawnSync(torchPython()!, [TORCH_SCRIPT, input, output], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
        expect(run.stderr).toBe('')
        expect(run.status).toBe(0)
        expectAgreement(gpu, JSON.parse(fs.readFileSync(output, 'utf8')) as StepResult, stepCase)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    })
  })
})

describe('the WebGPU check itself', () => {
  it('would notice a wrong gradient (the comparison is not vacuous)', async () => {
    await initBackend('wasm')
    const stepCase = makeStepCase()
    const good = await runStepCase(stepCase)
    const name = 'model.layers.0.mlp.up_proj.weight'
    const broken: StepResult = { ...good, grads: { ...good.grads, [name]: good.grads[name].map((g, i) => (i === 0 ? g + 1e-2 : g)) } }
    expect(() => expectAgreement(broken, good, stepCase)).toThrow(name)
  })
})
