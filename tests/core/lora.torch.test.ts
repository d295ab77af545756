// LoRA against PyTorch: a model with adapters gives the logits of the merged weights
// W + (alpha / r) * B A computed in float64 by torch (tests/fixtures/torch/lora_ref.py, as PEFT's
// merge_and_unload). Needs torch (tests/references.ts: skipped without it, failed in CI).
import { it, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { Llama } from '../../core/model/llama'
import { LoraAdapters } from '../../core/model/lora'
import { mulberry32, normalArray } from '../../core/util/random'
import { describeWith, torchPython } from '../references'

const SCRIPT = path.resolve(__dirname, '../fixtures/torch/lora_ref.py')

const exported = (t: tf.Tensor) => ({ shape: t.shape, data: Array.from(t.dataSync()) })

describeWith('torch', 'LoRA vs PyTorch', () => {
  beforeAll(async () => {
    await initBackend('cpu')
  })

  it('logits with adapters equal those of W + (alpha/r) B A', () => {
    const model = Llama.create({ vocab_size: 29, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 40, max_seq_len: 16 }, 11)
    const settings = { rank: 4, alpha: 12, dropout: 0, targets: ['q', 'v', 'o', 'up', 'down'] as const }
    model.adapters = LoraAdapters.create(model.config, { ...settings, targets: [...settings.targets] }, 3)
    const rand = mulberry32(12)
    for (const { B } of model.adapters.pairs.values()) B.assign(tf.tensor(normalArray(B.size, 0.3, rand), B.shape))
    const tokens = [[1, 4, 9, 16, 25, 7, 3, 2, 0], [5, 8, 13, 21, 3, 1, 28, 11, 6]]

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-lora-torch-'))
    const [input, output] = [path.join(dir, 'input.json'), path.join(dir, 'output.json')]
    const weights = Object.fromEntries(Object.entries(model.weights).map(([n, w]) => [n, exported(w)]))
    const lora = Object.fromEntries([...model.adapters.pairs].map(([m, p]) => [m, { A: exported(p.A), B: exported(p.B) }]))
    fs.writeFileSync(input, JSON.stringify({ config: model.config, weights, lora, rank: settings.rank, alpha: settings.alpha, tokens }))
    const run = spawnSync(torchPython()!, [SCRIPT, input, output], { encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const ref = JSON.parse(fs.readFileSync(output, 'utf8')) as { logits: number[] }
    fs.rmSync(dir, { recursive: true, force: true })

    const ours = model.logits(tf.tensor2d(tokens, [2, 9], 'int32')).dataSync()
    const base = model.adapters.withDisabled(() => model.logits(tf.tensor2d(tokens, [2, 9], 'int32')).dataSync())
    let worst = 0
    let moved = 0
    for (let i = 0; i < ours.length; i++) {
      worst = Math.max(worst, Math.abs(ours[i] - ref.logits[i]))
      moved = Math.max(moved, Math.abs(base[i] - ref.logits[i]))
    }
    expect(moved).toBeGreaterThan(1e-2) // the adapters matter
    expect(worst).toBeLessThan(1e-4)
    model.dispose()
  })
})
