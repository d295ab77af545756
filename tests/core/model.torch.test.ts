// The Llama model against an equivalent PyTorch model (Debian's python3-torch): same weights and
// batch must give the same logits, masked loss and gradients, and two steps of our AdamW
// (core/train/adamw.ts) the same weights and loss as two steps of torch.optim.AdamW.
// Needs torch (tests/references.ts: skipped without it, failed in CI).
import { describe, it, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { resolveModelConfig } from '../../core/model/config'
import { Llama, weightShapes } from '../../core/model/llama'
import { AdamW } from '../../core/train/adamw'
import { mulberry32, normalArray } from '../../core/util/random'
import { describeWith, torchPython } from '../references'
import { relativeError, maxAbsDifference } from '../numerics'

const SCRIPT = path.resolve(__dirname, '../fixtures/torch/llama_ref.py')

describeWith('torch', 'Llama vs PyTorch', () => describe.each(['cpu', 'wasm'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
  })

  for (const variant of [{ n_kv_heads: 2, tie_embeddings: false }, { n_kv_heads: 1, tie_embeddings: true }]) {
    it(`agrees on logits, loss, gradients and two AdamW steps (n_kv_heads ${variant.n_kv_heads}, tied ${variant.tie_embeddings})`, () => {
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
      // Llama 2's AdamW settings, with a learning rate large enough that decay shows after two steps.
      const [lr, betas, eps, weightDecay, steps] = [1e-2, [0.9, 0.95], 1e-5, 0.1, 2]

      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-torch-'))
      const input = path.join(dir, 'input.json')
      const output = path.join(dir, 'output.json')
      const config = { ...cfg }
      fs.writeFileSync(input, JSON.stringify({ config, weights: exported, tokens, targets, mask, lr, betas, eps, weight_decay: weightDecay, steps }))
      const run = spawnSync(torchPython()!, [SCRIPT, input, output], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
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
      // Ours: decoupled weight decay on matrices only (the default), as the reference's param groups.
      const optimizer = new AdamW(model.weights, { lr, beta1: betas[0], beta2: betas[1], eps, weightDecay })
      for (const [name, w] of Object.entries(model.weights)) expect(optimizer.decays(name), name).toBe(w.shape.length >= 2)
      optimizer.applyGradients(grads)
      for (let step = 1; step < steps; step++) {
        const next = tf.variableGrads(() => model.loss(t, y, m))
        optimizer.applyGradients(next.grads)
        tf.dispose([next.value, ...Object.values(next.grads)])
      }
      // Within 1% of one step's size; decaying the norms too, or not decaying at all, moves weights
      // by about 2 * lr * weightDecay * |w| (2e-4 to 2e-3 here).
      for (const [name, w] of Object.entries(model.weights)) {
        expect(maxAbsDifference(w.dataSync(), ref.weights_after[name]), name).toBeLessThan(lr * 1e-2)
      }
      const after = model.loss(t, y, m)
      expect(after.dataSync()[0]).toBeCloseTo(ref.loss_after, 4)
      expect(after.dataSync()[0]).toBeLessThan(value.dataSync()[0])
      optimizer.dispose()
      tf.dispose([t, y, m, logits, value, after, ...Object.values(grads), ...Object.values(weights)])
      model.dispose()
    })
  }
}))
