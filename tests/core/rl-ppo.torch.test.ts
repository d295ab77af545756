// One PPO policy-loss step against PyTorch (TRL's formulas, tests/fixtures/torch/ppo_ref.py): the
// same weights and rollout tokens (right-padded, prompt and padding masked out), old log-probs and
// advantages must give the same new log-probs, loss, clip fraction, approximate KL and gradients.
// Needs torch (tests/references.ts: skipped without it, failed in CI).
import { describe, it, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveModelConfig } from '../../core/model/config'
import { Llama, weightShapes } from '../../core/model/llama'
import { clippedPolicyLoss } from '../../core/rl/losses'
import { packRollouts, policyOutputs } from '../../core/rl/rollout'
import { mulberry32, normalArray } from '../../core/util/random'
import { describeWith, torchPython } from '../references'
import { relativeError } from '../numerics'

const SCRIPT = path.resolve(__dirname, '../fixtures/torch/ppo_ref.py')

describeWith('torch', 'a PPO step vs PyTorch', () => {
  beforeAll(async () => {
    await initBackend('cpu')
  })

  it('agrees on log-probs, clipped policy loss, its statistics and the gradients', () => {
    const cfg = resolveModelConfig({ vocab_size: 37, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 48, max_seq_len: 16 })
    const rand = mulberry32(11)
    const weights: Record<string, tf.Tensor> = {}
    const exported: Record<string, { shape: number[]; data: number[] }> = {}
    for (const [name, shape] of Object.entries(weightShapes(cfg))) {
      const values = normalArray(shape.reduce((a, b) => a * b, 1), 0.2, rand)
      if (shape.length === 1) values.forEach((v, i) => (values[i] = 1 + v))
      weights[name] = tf.tensor(values, shape)
      exported[name] = { shape, data: Array.from(values) }
    }
    const ids = (n: number) => Array.from({ length: n }, () => 1 + Math.floor(rand() * 36))
    const packed = packRollouts([ids(4), ids(2), ids(5)], [ids(5), ids(3), ids(1)], 0)
    // Old log-probs a little off the current ones (so some ratios leave the clip range) and mixed-sign advantages.
    const model = Llama.fromWeights(cfg, weights)
    const temperature = 0.7
    const current = tf.tidy(() => policyOutputs(model, tf.tensor2d(packed.tokens, undefined, 'int32'), tf.tensor2d(packed.targets, undefined, 'int32'), temperature).logp.arraySync())
    const oldLogp = current.map((row) => row.map((x) => x + (rand() - 0.5) * 0.8))
    const advantages = current.map((row) => row.map(() => rand() * 2 - 1))
    const cliprange = 0.2

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-ppo-torch-'))
    const input = path.join(dir, 'input.json')
    const output = path.join(dir, 'output.json')
    fs.writeFileSync(input, JSON.stringify({ config: cfg, weights: exported, tokens: packed.tokens, targets: packed.targets, mask: packed.mask, old_logp: oldLogp, advantages, cliprange, temperature }))
    const run = spawnSync(torchPython()!, [SCRIPT, input, output], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const ref = JSON.parse(fs.readFileSync(output, 'utf8'))
    fs.rmSync(dir, { recursive: true, force: true })

    let stats!: { clipfrac: number; approxkl: number; logp: Float32Array }
    const { value, grads } = tf.variableGrads(() => {
      const out = policyOutputs(model, tf.tensor2d(packed.tokens, undefined, 'int32'), tf.tensor2d(packed.targets, undefined, 'int32'), temperature)
      const pg = clippedPolicyLoss(out.logp, tf.tensor2d(oldLogp), tf.tensor2d(advantages), tf.tensor2d(packed.mask), cliprange)
      stats = { clipfrac: pg.clipfrac.dataSync()[0], approxkl: pg.approxkl.dataSync()[0], logp: out.logp.dataSync() as Float32Array }
      return pg.loss
    }, Object.values(model.weights))
    expect(relativeError(stats.logp, ref.new_logp)).toBeLessThan(1e-5)
    expect(value.dataSync()[0]).toBeCloseTo(ref.loss, 5)
    expect(stats.clipfrac).toBeCloseTo(ref.clipfrac, 6)
    expect(stats.clipfrac).toBeGreaterThan(0) // the clip is exercised
    expect(stats.approxkl).toBeCloseTo(ref.approxkl, 6)
    const nameOf = new Map(Object.entries(model.weights).map(([n, v]) => [v.name, n]))
    for (const [varName, g] of Object.entries(grads)) {
      const name = nameOf.get(varName)!
      expect(relativeError(g.dataSync(), ref.grads[name]), name).toBeLessThan(1e-4)
    }
    expect(Object.keys(grads)).toHaveLength(Object.keys(ref.grads).length)
    model.dispose()
  })
})

void describe
