// The Llama model against an equivalent PyTorch model (Debian's python3-torch): same weights and
// batch must give the same logits, masked loss, gradients and loss after one Adam step.
// Skips cleanly where /usr/bin/python3 has no torch.
import { describe, it, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { resolveModelConfig } from '../../core/model/config'
import { Llama, weightShapes } from '../../core/model/llama'
import { mulberry32, normalArray } from '../../core/util/random'

const PYTHON = '/usr/bin/python3'
const SCRIPT = path.resolve(__dirname, '../fixtures/torch/llama_ref.py')
const hasTorch = fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0
  let scale = 0
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]))
    scale = Math.max(scale, Math.abs(b[i]))
  }
  return diff / Math.max(scale, 1e-12)
}

describe.skipIf(!hasTorch).each(['cpu', 'wasm'] as const)('Llama vs PyTorch on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
  })

  for (const variant of [{ n_kv_heads: 2, tie_embeddings: false }, { n_kv_heads: 1, tie_embeddings: true }]) {
    it(`agrees on logits, loss, gradients and one Adam step (n_kv_heads ${variant.n_kv_heads}, tied ${variant.tie_embeddings})`, () => {
      const cfg = resolveModelConfig({ vocab_size: 29, dim: 32, n_layers: 2, n_heads: 4, hidden_dim: 40, max_seq_len: 16, rope_theta: 500, ...variant })
      const rand = mulberry32(31)
      const weights: Record<string, tf.Tensor> = {}
      const exported: Record<string, { shape: number[]; data: number[] }> = {}
      for (const [name, shape] of Object.entries(weightShapes(cfg))) {
        const values = normalArray(shape.reduce((a, b) => a * b, 1), 0.2, rand)
        if (shape.length === 1) values.forEach((v, i) => (values[i] = 1 + v))
        weights[name] = tf.tensor(values, shape)
        exported[name] = { shape, data: Array.from(values) }
      }
      const tokens = [Array.from({ length: 9 }, () => Math.floor(rand() * 29)), Array.from({ length: 9 }, () => Math.floor(rand() * 29))]
      const targets = tokens.map((row) => row.map((t) => (t * 3 + 1) % 29))
      const mask = [[1, 1, 1, 0, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1, 1, 1, 1]]
      const [lr, betas, eps] = [1e-2, [0.9, 0.95], 1e-5]

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-torch-'))
      const input = path.join(dir, 'input.json')
      const output = path.join(dir, 'output.json')
      const config = { ...cfg }
      fs.writeFileSync(input, JSON.stringify({ config, weights: exported, tokens, targets, mask, lr, betas, eps }))
      const run = spawnSync(PYTHON, [SCRIPT, input, output], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      const ref = JSON.parse(fs.readFileSync(output, 'utf8'))
      fs.rmSync(dir, { recursive: true, force: true })

      const model = Llama.fromWeights(cfg, weights)
      const t = tf.tensor2d(tokens, [2, 9], 'int32')
      const y = tf.tensor2d(targets, [2, 9], 'int32')
      const m = tf.tensor2d(mask, [2, 9], 'int32')
      const logits = model.logits(t)
      expect(relativeError(logits.dataSync(), ref.logits)).toBeLessThan(1e-5)
      const { value, grads } = tf.variableGrads(() => model.loss(t, y, m))
      expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5)
      const nameOf = new Map(Object.entries(model.weights).map(([n, v]) => [v.name, n]))
      for (const [varName, g] of Object.entries(grads)) {
        const name = nameOf.get(varName)!
        expect(relativeError(g.dataSync(), ref.grads[name]), name).toBeLessThan(1e-4)
      }
      const optimizer = tf.train.adam(lr, betas[0], betas[1], eps)
      optimizer.applyGradients(grads as unknown as tf.NamedTensorMap as Parameters<typeof optimizer.applyGradients>[0])
      const after = model.loss(t, y, m)
      expect(after.dataSync()[0]).toBeCloseTo(ref.loss_after, 4)
      expect(after.dataSync()[0]).toBeLessThan(value.dataSync()[0])
      optimizer.dispose()
      tf.dispose([t, y, m, logits, value, after, ...Object.values(grads), ...Object.values(weights)])
      model.dispose()
    })
  }
})
