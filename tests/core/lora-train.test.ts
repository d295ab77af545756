// LoRA fine-tuning through the SFT stage: the frozen trunk stays bit-identical, only the adapters
// train (the optimiser holds moments for them alone), the loss goes down, and the checkpoint is a
// PEFT adapter folder that loads back over its base. Also: a hand-written PEFT folder loads, and
// PEFT's names round-trip.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveConfig } from '../../core/config/schema'
import { loadCheckpoint, saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { LoraAdapters, mergeAdapters } from '../../core/model/lora'
import { readSafetensors, writeSafetensors } from '../../core/model/safetensors'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { getStage } from '../../core/train/stages/registry'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'
import { maxAbsDifference } from '../numerics'

const QA = [
  ['What color is the sky?', 'blue'],
  ['What color is grass?', 'green'],
  ['How many legs has a cat?', '4'],
  ['What is the opposite of hot?', 'cold'],
]

let backend: BackendInfo
let dir: string
let baseDir: string
let sftData: string
let tokenizer: Tokenizer

function context(runDir: string, tracker: MemoryTracker): StageContext {
  fs.mkdirSync(runDir, { recursive: true })
  return { runId: 'lora-run', tracker, signal: new AbortController().signal, runDir, home: dir, parents: [], seed: 0, backend, log: () => {}, progress: () => {} }
}

beforeAll(async () => {
  backend = await initBackend('cpu')
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-lora-'))
  tokenizer = Tokenizer.train([QA.flat().join(' ')], { vocabSize: 300 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }, 0)
  baseDir = path.join(dir, 'base')
  await saveCheckpoint(baseDir, { config: model.config, weights: model.weights, tokenizer })
  model.dispose()
  sftData = path.join(dir, 'qa.jsonl')
  fs.writeFileSync(sftData, QA.map(([prompt, response]) => JSON.stringify({ prompt, response })).join('\n') + '\n')
})

describe('LoRA SFT', () => {
  it('keeps the trunk bit-identical, trains the adapters alone, lowers the loss and saves a PEFT folder', async () => {
    const stage = getStage('sft')
    const config = resolveConfig(stage.schema, {
      base: baseDir, data: [sftData], finetuning: 'lora', lora_rank: 4, lora_alpha: 8, lora_dropout: 0.1, lora_targets: ['q', 'v', 'down'],
      lr: 3e-2, batch_size: 4, max_steps: 30, warmup_steps: 2, val_fraction: 0, sample_every: 0, log_every: 1, checkpoint_every: 0, threads: 2,
    })
    const tracker = new MemoryTracker('lora-run', dir)
    const result = await stage.run(context(path.join(dir, 'runs', 'sft'), tracker), config)
    const losses = tracker.metrics.filter((m) => m.key === 'train/loss').map((m) => m.value)
    expect(losses.length).toBeGreaterThan(10)
    // A random tiny trunk leaves adapters little to work with: 5.72 -> 5.19 when measured; without
    // training the loss would stay at the first value.
    expect(losses.at(-1)!).toBeLessThan(losses[0] - 0.3)

    const ckpt = result.checkpointDir!
    expect(fs.existsSync(path.join(ckpt, 'model.safetensors'))).toBe(false)
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(ckpt, 'adapter_config.json'), 'utf8'))
    expect(adapterConfig).toMatchObject({ peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, lora_dropout: 0.1, target_modules: ['q_proj', 'v_proj', 'down_proj'], base_model_name_or_path: baseDir, bias: 'none', fan_in_fan_out: false, inference_mode: true })
    const saved = readSafetensors(path.join(ckpt, 'adapter_model.safetensors')).tensors
    expect(Object.keys(saved)).toHaveLength(2 * 3 * 2)
    expect(saved['base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'].shape).toEqual([32, 4])
    // The optimiser's moments: adapters only.
    const optimizer = readSafetensors(path.join(ckpt, 'optimizer.safetensors')).tensors
    expect(Object.keys(optimizer).every((k) => /\.lora_[AB]\.weight$/.test(k))).toBe(true)

    const base = loadModel(baseDir)
    const tuned = loadModel(ckpt)
    // The frozen trunk, bit for bit.
    for (const [name, w] of Object.entries(base.model.weights)) expect(maxAbsDifference(tuned.model.weights[name].dataSync(), w.dataSync()), name).toBe(0)
    const tokens = tf.tensor2d([tokenizer.encode('What color is the sky? blue').slice(0, 8)], undefined, 'int32')
    const withAdapters = tuned.model.logits(tokens).dataSync()
    expect(maxAbsDifference(withAdapters, base.model.logits(tokens).dataSync())).toBeGreaterThan(1e-3)
    expect(maxAbsDifference(tuned.model.adapters!.withDisabled(() => tuned.model.logits(tokens).dataSync()), base.model.logits(tokens).dataSync())).toBe(0)
    const merged = mergeAdapters(tuned.model)
    expect(maxAbsDifference(merged.logits(tokens).dataSync(), withAdapters)).toBeLessThan(1e-4)

    // `workbench merge` writes a full checkpoint with the same logits, recorded as a run.
    const out = path.join(dir, 'merged')
    const io = bufferIO()
    expect(await runCli(['merge', '--adapter', ckpt, '--out', out, '--home', path.join(dir, 'home'), '--backend', 'cpu', '--json'], io)).toBe(0)
    expect(JSON.parse(io.stdout.join(''))).toMatchObject({ type: 'merge', checkpoint: out, base: baseDir, kind: 'lm' })
    expect(fs.existsSync(path.join(out, 'adapter_config.json'))).toBe(false)
    const full = loadModel(out)
    expect(full.model.adapters).toBeNull()
    expect(maxAbsDifference(full.model.logits(tokens).dataSync(), withAdapters)).toBeLessThan(1e-4)
    full.dispose()
    merged.dispose()
    base.dispose()
    tuned.dispose()
  }, 120_000)
})

describe('LoRA reward model', () => {
  it('trains adapters and the new score head over a frozen trunk; saves SEQ_CLS with the head as PEFT does', async () => {
    const pairs = Array.from({ length: 24 }, (_, i) => ({ prompt: QA[i % 4][0], chosen: `${QA[i % 4][1]} sure`, rejected: `${QA[(i + 1) % 4][1]} never` }))
    const file = path.join(dir, 'pairs.jsonl')
    fs.writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n')
    const stage = getStage('reward')
    const config = resolveConfig(stage.schema, { base: baseDir, data: [file], val_fraction: 0.25, finetuning: 'lora', lora_rank: 2, lora_targets: ['v'], max_steps: 20, batch_size: 6, lr: 1e-2, threads: 1, eval_samples: 0 })
    const tracker = new MemoryTracker('lora-rm', dir)
    const result = await stage.run(context(path.join(dir, 'runs', 'rm'), tracker), config)
    const ckpt = result.checkpointDir!
    const adapterConfig = JSON.parse(fs.readFileSync(path.join(ckpt, 'adapter_config.json'), 'utf8'))
    expect(adapterConfig).toMatchObject({ task_type: 'SEQ_CLS', target_modules: ['v_proj'], modules_to_save: ['score'] })
    const saved = readSafetensors(path.join(ckpt, 'adapter_model.safetensors')).tensors
    expect(Object.keys(saved).sort()).toEqual(['base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight', 'base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight', 'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight', 'base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight', 'base_model.model.score.weight'])
    expect(() => loadModel(ckpt)).toThrow(/reward model/)
    const rm = loadModel(ckpt, { heads: ['reward'], scoringOnly: true })
    const base = loadModel(baseDir)
    for (const [name, w] of Object.entries(base.model.weights)) expect(maxAbsDifference(rm.model.weights[name].dataSync(), w.dataSync()), name).toBe(0)
    expect(maxAbsDifference(rm.heads.reward!.weight.dataSync(), saved['base_model.model.score.weight'].data)).toBe(0)
    const losses = tracker.metrics.filter((m) => m.key === 'train/loss').map((m) => m.value)
    expect(losses.at(-1)!).toBeLessThan(losses[0])
    rm.dispose()
    base.dispose()
  }, 120_000)
})

describe('PEFT adapter folders', () => {
  it('a hand-written PEFT folder (relative base path, adapter names still in the tensors) loads', () => {
    const base = loadModel(baseDir)
    const adapters = LoraAdapters.create(base.model.config, { rank: 2, alpha: 2, dropout: 0, targets: ['k', 'o'] }, 5)
    for (const { B } of adapters.pairs.values()) B.assign(tf.fill(B.shape, 0.05))
    const folder = path.join(dir, 'peft-written')
    fs.mkdirSync(folder)
    fs.writeFileSync(path.join(folder, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: '../base', r: 2, lora_alpha: 2, lora_dropout: 0.0, target_modules: ['o_proj', 'k_proj'], bias: 'none', fan_in_fan_out: false, inference_mode: true }))
    const raw = Object.fromEntries(Object.entries(adapters.variables()).map(([name, v]) => [
      `base_model.model.${name.replace(/\.weight$/, '.default.weight')}`,
      { dtype: 'float32' as const, shape: [...v.shape], data: v.dataSync() as Float32Array },
    ]))
    writeSafetensors(path.join(folder, 'adapter_model.safetensors'), raw, { format: 'pt' })
    const loaded = loadModel(folder)
    expect(loaded.adapter?.baseDir).toBe(baseDir)
    expect([...loaded.model.adapters!.pairs.keys()]).toEqual([...adapters.pairs.keys()])
    base.model.adapters = adapters
    const tokens = tf.tensor2d([[3, 4, 5, 6]], [1, 4], 'int32')
    expect(maxAbsDifference(loaded.model.logits(tokens).dataSync(), base.model.logits(tokens).dataSync())).toBe(0)
    loaded.dispose()
    base.dispose()
  })

  it('a folder saved with PEFT names round-trips through loadCheckpoint', async () => {
    const base = loadModel(baseDir)
    const adapters = LoraAdapters.create(base.model.config, { rank: 3, alpha: 6, dropout: 0, targets: ['q', 'gate'] }, 8)
    const folder = path.join(dir, 'roundtrip')
    await saveCheckpoint(folder, { config: base.model.config, weights: adapters.variables(), tokenizer, adapter: { settings: adapters.settings, baseDir } })
    const loaded = loadCheckpoint(folder)
    expect(loaded.adapter!.settings).toEqual(adapters.settings)
    for (const [name, v] of Object.entries(adapters.variables())) expect(maxAbsDifference(loaded.adapter!.tensors[name].dataSync(), v.dataSync()), name).toBe(0)
    loaded.dispose()
    adapters.dispose()
    base.dispose()
  })

  it('refuses what it cannot apply exactly, naming the file', () => {
    const folder = path.join(dir, 'rslora')
    fs.mkdirSync(folder)
    fs.writeFileSync(path.join(folder, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', base_model_name_or_path: baseDir, r: 2, lora_alpha: 2, target_modules: ['q_proj'], use_rslora: true }))
    fs.writeFileSync(path.join(folder, 'adapter_model.safetensors'), '')
    expect(() => loadModel(folder)).toThrow(/rslora\/adapter_config.json: use_rslora/)
    fs.writeFileSync(path.join(folder, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', base_model_name_or_path: 'meta-llama/Llama-2-7b-hf', r: 2, lora_alpha: 2, target_modules: ['q_proj'] }))
    expect(() => loadModel(folder)).toThrow(/base_model_name_or_path "meta-llama\/Llama-2-7b-hf" is not a folder here/)
  })
})
