import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { Llama } from '../../core/model/llama'
import { resolveModelConfig, type LlamaConfig } from '../../core/model/config'
import { Tokenizer } from '../../core/tokenizer'
import { AdamW } from '../../core/train/adamw'
import { SpikeGuard } from '../../core/train/spikeGuard'
import { importHfCheckpoint, isCheckpointDir, loadCheckpoint, recoverInterruptedSave, saveCheckpoint } from '../../core/model/checkpoint'
import { readSafetensors } from '../../core/model/safetensors'
import { tinyHfConfig, writeTinyHfFolder } from '../fixtures/hf/tinyHf'
import { torchRef } from '../fixtures/hf/torch'
import { describeWith } from '../references'

const CFG: LlamaConfig = resolveModelConfig({ vocab_size: 300, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, multiple_of: 16, max_seq_len: 32 })
const TEXT = 'the cat sat on the mat. the dog ate 12 bones! '.repeat(20)

let root: string
let tokenizer: Tokenizer
let counter = 0
const fresh = (name = 'ckpt') => path.join(root, `${name}-${counter++}`)

beforeAll(async () => {
  await initBackend('cpu')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-ckpt-'))
  tokenizer = Tokenizer.train([TEXT], { vocabSize: 300 })
})
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A tiny model after two AdamW steps, so weights and both moments are non-trivial. */
function trainedModel(cfg = CFG): { model: Llama; opt: AdamW } {
  const model = Llama.create(cfg, 1)
  const opt = new AdamW(model.weights, { lr: 1e-2 })
  const tokens = tf.tensor2d([[1, 5, 9, 20, 7, 3, 11, 2]], undefined, 'int32')
  const targets = tf.tensor2d([[5, 9, 20, 7, 3, 11, 2, 4]], undefined, 'int32')
  for (let i = 0; i < 2; i++) {
    const { grads } = tf.variableGrads(() => model.loss(tokens, targets), model.trainableVariables())
    opt.applyGradients(grads)
    tf.dispose(grads)
  }
  tf.dispose([tokens, targets])
  return { model, opt }
}

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer)
}

describe('saveCheckpoint / loadCheckpoint', () => {
  it('round-trips weights and optimiser state bit-exactly, with config, tokenizer and trainer state', async () => {
    const { model, opt } = trainedModel()
    const guard = new SpikeGuard()
    for (const loss of [5, 4.8, 4.7]) guard.check(loss, 1)
    const trainerState = { step: 2, cursor: { file: 0, offset: 4096 }, rng: [1, 2, 3, 4], guard: guard.getState(), tokensSeen: 16 }
    const dir = fresh()
    const written = await saveCheckpoint(dir, {
      config: model.config,
      weights: model.weights,
      tokenizer,
      optimizer: opt.getState(),
      trainerState,
      runConfig: { lr: 0.01, preset: 'tiny' },
      stage: 'pretrain',
      runId: 'run-1',
    })
    expect(written).toBe(path.resolve(dir))
    expect(fs.readdirSync(dir).sort()).toEqual([
      'config.json', 'generation_config.json', 'model.safetensors', 'optimizer.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'trainer_state.json', 'workbench.json',
    ])
    expect(isCheckpointDir(dir)).toBe(true)

    const loaded = loadCheckpoint(dir)
    expect(loaded.config).toEqual(model.config)
    expect(Object.keys(loaded.tensors).sort()).toEqual(Object.keys(model.weights).sort())
    for (const [name, w] of Object.entries(model.weights)) {
      expect(bits(loaded.tensors[name]), name).toEqual(bits(w))
      expect(loaded.tensors[name].shape).toEqual(w.shape)
    }
    const state = opt.getState()
    expect(loaded.optimizer?.step).toBe(2)
    for (const name of Object.keys(model.weights)) {
      expect(bits(loaded.optimizer!.m[name]), `m ${name}`).toEqual(bits(state.m[name]))
      expect(bits(loaded.optimizer!.v[name]), `v ${name}`).toEqual(bits(state.v[name]))
    }
    expect(loaded.trainerState).toEqual(trainerState)
    expect(loaded.workbench).toMatchObject({ format: 'workbench-checkpoint', version: 1, step: 2, model: model.config, config: { lr: 0.01, preset: 'tiny' }, stage: 'pretrain', runId: 'run-1' })
    expect(Date.parse(loaded.workbench!.created)).toBeGreaterThan(0)
    expect(loaded.heads).toEqual({})

    // The tokenizer comes back identical, and its special ids are in config.json.
    const back = Tokenizer.load(loaded.tokenizerPath!)
    expect(back.encode(TEXT)).toEqual(tokenizer.encode(TEXT))
    expect(loaded.specialTokenIds).toEqual({ bos_token_id: tokenizer.special.bos, eos_token_id: tokenizer.special.eos, pad_token_id: tokenizer.special.pad })
    const tokConfig = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'))
    expect(tokConfig).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' })

    // A model rebuilt from the checkpoint computes the same logits, and an optimiser restored
    // from it takes the same next step.
    const rebuilt = Llama.fromWeights(loaded.config, loaded.tensors)
    const tokens = tf.tensor2d([[1, 2, 3, 4]], undefined, 'int32')
    const a = model.logits(tokens)
    const b = rebuilt.logits(tokens)
    expect(bits(b)).toEqual(bits(a))
    const resumed = new AdamW(rebuilt.weights, { lr: 1e-2 })
    resumed.setState(loaded.optimizer!)
    expect(resumed.step).toBe(2)
    tf.dispose([tokens, a, b])
    loaded.dispose()
    for (const x of [model, rebuilt, opt, resumed]) x.dispose()
  })

  it('writes a model.safetensors transformers accepts (format pt) and a LlamaForCausalLM config.json', async () => {
    const model = Llama.create(CFG, 2)
    const dir = fresh()
    await saveCheckpoint(dir, { config: model.config, weights: model.weights })
    const { metadata, tensors } = readSafetensors(path.join(dir, 'model.safetensors'))
    expect(metadata).toEqual({ format: 'pt' })
    expect(tensors['model.layers.1.self_attn.k_proj.weight'].shape).toEqual([16, 32])
    const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'))
    expect(config).toMatchObject({ architectures: ['LlamaForCausalLM'], hidden_size: 32, num_key_value_heads: 2, torch_dtype: 'float32' })
    // no optimiser, tokenizer or trainer state given: none written, none loaded
    const loaded = loadCheckpoint(dir)
    expect(loaded.optimizer).toBeUndefined()
    expect(loaded.trainerState).toBeUndefined()
    expect(loaded.tokenizerPath).toBeUndefined()
    expect(loaded.workbench?.step).toBe(0)
    loaded.dispose()
    model.dispose()
  })

  it('keeps tied embeddings tied and passes scalar heads through', async () => {
    const cfg = { ...CFG, tie_embeddings: true }
    const model = Llama.create(cfg, 3)
    const score = tf.randomNormal([1, 32])
    const dir = fresh()
    await saveCheckpoint(dir, { config: cfg, weights: { ...model.weights, 'score.weight': score } })
    const loaded = loadCheckpoint(dir)
    expect(loaded.config.tie_embeddings).toBe(true)
    expect(loaded.tensors['lm_head.weight']).toBeUndefined()
    expect(Object.keys(loaded.heads)).toEqual(['score.weight'])
    expect(bits(loaded.heads['score.weight'])).toEqual(bits(score))
    loaded.dispose()
    score.dispose()
    model.dispose()
  })

  it('loads a plain Hugging Face folder (no workbench.json) the same way', () => {
    const dir = fresh('hf')
    writeTinyHfFolder(dir, { shards: 2 })
    expect(isCheckpointDir(dir)).toBe(true)
    const loaded = loadCheckpoint(dir)
    expect(loaded.workbench).toBeUndefined()
    const model = Llama.fromWeights(loaded.config, loaded.tensors)
    const logits = model.logits(tf.tensor2d([[1, 2, 3]], undefined, 'int32'))
    expect(logits.shape).toEqual([1, 3, 64])
    expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true)
    tf.dispose(logits)
    loaded.dispose()
    model.dispose()
  })

  it('imports a Hugging Face folder as a workbench checkpoint, tokenizer files and special ids included', async () => {
    const src = fresh('hf')
    const tokenizerJson = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/tokenizer/llama-sentencepiece.json'), 'utf8'))
    const written = writeTinyHfFolder(src, { tokenizerJson, config: tinyHfConfig({ eos_token_id: [2, 3] }) })
    fs.writeFileSync(path.join(src, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'LlamaTokenizer', chat_template: 'x' }))
    const dest = fresh('imported')
    const result = await importHfCheckpoint(src, dest, { runId: 'imp-1' })
    expect(result).toEqual({ dir: path.resolve(dest), config: expect.objectContaining({ dim: 32, vocab_size: 64 }), warnings: [] })
    const loaded = loadCheckpoint(dest)
    expect(loaded.workbench).toMatchObject({ stage: 'import', runId: 'imp-1', config: { imported_from: path.resolve(src) } })
    for (const [name, t] of Object.entries(written)) expect(Array.from(loaded.tensors[name].dataSync()), name).toEqual(Array.from(t.data))
    expect(loaded.specialTokenIds).toEqual({ bos_token_id: 1, eos_token_id: [2, 3] })
    expect(JSON.parse(fs.readFileSync(path.join(dest, 'tokenizer_config.json'), 'utf8'))).toEqual({ tokenizer_class: 'LlamaTokenizer', chat_template: 'x' })
    expect(fs.readFileSync(loaded.tokenizerPath!, 'utf8')).toBe(fs.readFileSync(path.join(src, 'tokenizer.json'), 'utf8'))
    loaded.dispose()

    // Without a tokenizer_config.json of its own, one is written from config.json's special ids.
    fs.rmSync(path.join(src, 'tokenizer_config.json'))
    const again = (await importHfCheckpoint(src, fresh('imported'))).dir
    expect(JSON.parse(fs.readFileSync(path.join(again, 'tokenizer_config.json'), 'utf8'))).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>' })
  })

  it('creates no lasting tensors: load + dispose leaves the count unchanged', async () => {
    const { model, opt } = trainedModel()
    const dir = fresh()
    await saveCheckpoint(dir, { config: model.config, weights: model.weights, optimizer: opt.getState() })
    const before = tf.memory().numTensors
    loadCheckpoint(dir).dispose()
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
    opt.dispose()
  })

  it('refuses to save weights that do not match the config, or state JSON cannot hold', async () => {
    const model = Llama.create(CFG, 4)
    const bad = { ...model.weights, 'model.norm.weight': tf.ones([31]) }
    await expect(saveCheckpoint(fresh(), { config: CFG, weights: bad })).rejects.toThrow(/tensor model\.norm\.weight has shape \[31\] but config\.json implies \[32\]/)
    await expect(saveCheckpoint(fresh(), { config: CFG, weights: model.weights, trainerState: { step: 1, guard: { mean: NaN } } as never })).rejects.toThrow(
      /checkpoint trainer_state\.json: "mean" is NaN, which JSON cannot hold/,
    )
    tf.dispose(bad['model.norm.weight'])
    model.dispose()
  })
})

describe('atomic checkpoint writes', () => {
  it('replaces an existing checkpoint and leaves no temp folders', async () => {
    const model = Llama.create(CFG, 5)
    const dir = fresh()
    await saveCheckpoint(dir, { config: CFG, weights: model.weights, trainerState: { step: 1 } })
    await saveCheckpoint(dir, { config: CFG, weights: model.weights, trainerState: { step: 2 } })
    const loaded = loadCheckpoint(dir)
    expect(loaded.trainerState?.step).toBe(2)
    expect(fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`.${path.basename(dir)}.`))).toEqual([])
    loaded.dispose()
    model.dispose()
  })

  it('a save that fails half way leaves the previous checkpoint intact and no partial folder', async () => {
    const model = Llama.create(CFG, 6)
    const dir = fresh()
    await saveCheckpoint(dir, { config: CFG, weights: model.weights, trainerState: { step: 1 } })
    const brokenTokenizer = { save: () => { throw new Error('disk full') } }
    await expect(saveCheckpoint(dir, { config: CFG, weights: model.weights, tokenizer: brokenTokenizer, trainerState: { step: 2 } })).rejects.toThrow(/disk full/)
    const loaded = loadCheckpoint(dir)
    expect(loaded.trainerState?.step).toBe(1)
    expect(fs.readdirSync(path.dirname(dir)).filter((f) => f.startsWith(`.${path.basename(dir)}.`))).toEqual([])
    loaded.dispose()
    model.dispose()
  })

  it('ignores and cleans a partial folder left by a crashed save', async () => {
    const model = Llama.create(CFG, 7)
    const dir = fresh()
    const partial = path.join(path.dirname(dir), `.${path.basename(dir)}.partial-99999-deadbeef`)
    fs.mkdirSync(partial, { recursive: true })
    fs.writeFileSync(path.join(partial, 'config.json'), '{}')
    fs.writeFileSync(path.join(partial, 'model.safetensors'), 'half a file')
    expect(isCheckpointDir(partial)).toBe(false)
    expect(isCheckpointDir(dir)).toBe(false)
    await saveCheckpoint(dir, { config: CFG, weights: model.weights })
    expect(fs.existsSync(partial)).toBe(false)
    expect(isCheckpointDir(dir)).toBe(true)
    model.dispose()
  })

  it('puts the old checkpoint back after a crash between the two renames', async () => {
    const model = Llama.create(CFG, 8)
    const dir = fresh()
    await saveCheckpoint(dir, { config: CFG, weights: model.weights, trainerState: { step: 3 } })
    // The crash: the old checkpoint was moved aside and the new one never moved in.
    const aside = path.join(path.dirname(dir), `.${path.basename(dir)}.old-99999-0badf00d`)
    fs.renameSync(dir, aside)
    expect(isCheckpointDir(aside)).toBe(false)
    const loaded = loadCheckpoint(dir)
    expect(loaded.trainerState?.step).toBe(3)
    expect(fs.existsSync(aside)).toBe(false)
    loaded.dispose()

    // A crash after the new one moved in but before the old one was deleted: the old is removed.
    fs.cpSync(dir, aside, { recursive: true })
    expect(recoverInterruptedSave(dir)).toEqual([`removed replaced ${aside}`])
    expect(fs.existsSync(aside)).toBe(false)
    model.dispose()
  })

  it('names the file when workbench.json is from a newer workbench', async () => {
    const model = Llama.create(CFG, 9)
    const dir = fresh()
    await saveCheckpoint(dir, { config: CFG, weights: model.weights })
    const metaFile = path.join(dir, 'workbench.json')
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'))
    fs.writeFileSync(metaFile, JSON.stringify({ ...meta, version: 99 }))
    expect(() => loadCheckpoint(dir)).toThrow(/workbench\.json: checkpoint format version 99 is newer than this workbench reads \(1\)/)
    model.dispose()
  })
})

describeWith('torch', 'checkpoint against a PyTorch LlamaForCausalLM forward', () => {
  it('gives the same logits from config.json + model.safetensors alone', async () => {
    const model = Llama.create(CFG, 10)
    // Larger weights and uneven norm gains than at init, so every part of the forward matters.
    for (const [name, w] of Object.entries(model.weights)) {
      w.assign(name.endsWith('norm.weight') ? tf.randomUniform(w.shape, 0.5, 1.5, 'float32', 1) : tf.mul(w, 5))
    }
    const dir = fresh('torch')
    await saveCheckpoint(dir, { config: CFG, weights: model.weights })
    const ids = [[1, 17, 42, 99, 250, 3, 8, 5], [2, 2, 7, 7, 100, 200, 299, 0]]
    const want = torchRef<number[][][]>(['llama-logits', dir], { ids })
    const got = model.logits(tf.tensor2d(ids, undefined, 'int32'))
    const values = got.arraySync() as number[][][]
    let maxDiff = 0
    let maxLogit = 0
    values.forEach((row, b) => row.forEach((logits, t) => logits.forEach((x, v) => {
      maxDiff = Math.max(maxDiff, Math.abs(x - want[b][t][v]))
      maxLogit = Math.max(maxLogit, Math.abs(x))
    })))
    expect(maxLogit).toBeGreaterThan(1) // logits large enough for the comparison to mean something
    expect(maxDiff).toBeLessThan(1e-5 * maxLogit)
    got.dispose()
    model.dispose()
  })
})
