// One loader for every consumer (core/model/load.ts): an imported Hugging Face model whose
// tokenizer gains the chat tokens on load is grown the same way for chat, gold evaluation and SFT;
// scalar heads and reward models load with clear errors; the chat engine never serves a model
// from before its folder was re-saved.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveConfig } from '../../core/config/schema'
import { chatStopTokens, encodeChatPrompt } from '../../core/data/chatTemplate'
import { goldEvalStage } from '../../core/eval/stage'
import { importHfFolder } from '../../core/jobs/importHf'
import { importHfCheckpoint, saveCheckpoint } from '../../core/model/checkpoint'
import { generate } from '../../core/model/generate'
import { rightPaddedMask } from '../../core/model/heads'
import { Llama } from '../../core/model/llama'
import { loadModel, modelFolderFingerprint } from '../../core/model/load'
import { readSafetensors, type RawTensor } from '../../core/model/safetensors'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { getStage } from '../../core/train/stages/registry'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'
import { ChatEngine, chatPrompt } from '../../electron/server/chat'
import { tinyHfConfig, tinyHfShapes, tinyTensors, writeTinyHfFolder } from '../fixtures/hf/tinyHf'

/** GPT-2 style: 265 tokens, <|endoftext|> (264) is BOS, EOS and PAD; no chat tokens. */
const GPT2 = JSON.parse(fs.readFileSync(path.join(__dirname, '../fixtures/tokenizer/gpt2-bytelevel.json'), 'utf8'))
const BASE_VOCAB = 265
const CHAT_TOKENS = ['<|system|>', '<|user|>', '<|assistant|>', '<|end|>']
const MESSAGES = [{ role: 'user' as const, content: 'hello there' }]

let backend: BackendInfo
let root: string
let n = 0
const fresh = (name = 'm') => path.join(root, `${name}-${n++}`)

beforeAll(async () => {
  backend = await initBackend('cpu')
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-load-'))
})
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A tiny LlamaForCausalLM folder whose 265-row embedding matches the GPT-2 fixture tokenizer. */
function writeGpt2Llama(dir: string, config: Record<string, unknown> = {}, dropTensors: string[] = [], extra: Record<string, RawTensor> = {}): Record<string, RawTensor> {
  const shapes: Record<string, number[]> = { ...tinyHfShapes(), 'model.embed_tokens.weight': [BASE_VOCAB, 32], 'lm_head.weight': [BASE_VOCAB, 32] }
  for (const name of dropTensors) delete shapes[name]
  const tensors = { ...tinyTensors(shapes), ...extra }
  return writeTinyHfFolder(dir, {
    config: tinyHfConfig({ vocab_size: BASE_VOCAB, bos_token_id: 264, eos_token_id: 264, ...config }),
    tensors,
    tokenizerJson: GPT2,
  })
}

function rows(t: tf.Tensor): number[][] {
  return t.arraySync() as number[][]
}

function context(runDir: string, parents: StageContext['parents'] = []): StageContext {
  fs.mkdirSync(runDir, { recursive: true })
  const tracker = new MemoryTracker(path.basename(runDir), runDir)
  return { runId: tracker.runId, tracker, signal: new AbortController().signal, runDir, home: root, parents, seed: 0, backend, log: () => {}, progress: () => {} }
}

/** The greedy reply the chat engine should give, computed straight from a loaded model. */
async function greedyChat(model: Llama, tokenizer: Tokenizer, maxTokens: number): Promise<{ text: string; tokens: number }> {
  const prompt = chatPrompt(tokenizer, undefined, MESSAGES, model.config.max_seq_len - maxTokens)
  const out = await generate(model, prompt, { maxNewTokens: maxTokens, temperature: 0, stopIds: chatStopTokens(tokenizer) })
  return { text: tokenizer.decode(out.ids, { skipSpecial: true }), tokens: out.ids.length }
}

function chatArgs(checkpoint: string, maxTokens: number) {
  return { requestId: 'r', checkpoint, messages: MESSAGES, temperature: 0, topP: 1, topK: 0, maxTokens, seed: 1 }
}

describe('loadModel', () => {
  it('grows embed_tokens and lm_head at the mean for the chat tokens a foreign tokenizer gains', () => {
    const dir = fresh('hf')
    const written = writeGpt2Llama(dir)
    const loaded = loadModel(dir)
    const { tokenizer, model } = loaded
    expect(tokenizer.addedOnLoad).toEqual(CHAT_TOKENS)
    expect([tokenizer.special.pad, tokenizer.special.bos, tokenizer.special.eos]).toEqual([264, 264, 264])
    expect(loaded).toMatchObject({ kind: 'lm', grownRows: 4, heads: {}, headsInFolder: [] })
    expect(loaded.config.vocab_size).toBe(tokenizer.vocabSize)
    expect(model.config.vocab_size).toBe(BASE_VOCAB + 4)
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const got = rows(model.weights[name])
      const before = Array.from(written[name].data as Float32Array)
      expect(got.slice(0, BASE_VOCAB).flat(), name).toEqual(before)
      const mean = Array.from({ length: 32 }, (_, d) => got.slice(0, BASE_VOCAB).reduce((s, r) => s + r[d], 0) / BASE_VOCAB)
      for (const row of got.slice(BASE_VOCAB)) row.forEach((v, d) => expect(v).toBeCloseTo(mean[d], 5))
    }
    loaded.dispose()
  })

  it('extends the context when asked and leaves a fitting vocabulary alone', async () => {
    const tokenizer = Tokenizer.train(['the cat sat on the mat'], { vocabSize: 270 })
    const small = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 1, n_heads: 4, max_seq_len: 16 }, 0)
    const dir = await saveCheckpoint(fresh('wb'), { config: small.config, weights: small.weights, tokenizer })
    small.dispose()
    const loaded = loadModel(dir, { maxSeqLen: 32 })
    expect(loaded.model.config.max_seq_len).toBe(32)
    expect(loaded.grownRows).toBe(0)
    loaded.dispose()
  })

  it('refuses a tokenizer whose base vocabulary is larger than the embedding, naming the folder', () => {
    const dir = fresh('mismatch')
    writeTinyHfFolder(dir, { tokenizerJson: GPT2 }) // 64 rows for a 265-token vocabulary
    expect(() => loadModel(dir)).toThrow(`${dir}: tokenizer.json has 265 vocabulary tokens but the model's embedding has 64 rows`)
  })

  it('names the folder when the tokenizer is missing', () => {
    const dir = fresh('notok')
    writeTinyHfFolder(dir)
    expect(() => loadModel(dir)).toThrow(`${dir}: no tokenizer.json beside the model`)
  })

  it('loads a value head when asked, lists heads it was not asked for, and names a missing one', async () => {
    const tokenizer = Tokenizer.train(['the cat sat on the mat'], { vocabSize: 270 })
    const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 1, n_heads: 4, max_seq_len: 16 }, 0)
    const value = tf.tensor2d([Array.from({ length: 32 }, (_, i) => i / 32)])
    const dir = await saveCheckpoint(fresh('value'), { config: model.config, weights: { ...model.weights, 'value_head.weight': value }, tokenizer })
    model.dispose()
    const plain = loadModel(dir)
    expect(plain.heads).toEqual({})
    expect(plain.headsInFolder).toEqual(['value'])
    plain.dispose()
    const before = tf.memory().numTensors
    const withHead = loadModel(dir, { heads: ['value'] })
    expect(rows(withHead.heads.value!.weight)).toEqual(rows(value))
    withHead.dispose()
    expect(tf.memory().numTensors).toBe(before)
    expect(() => loadModel(dir, { heads: ['reward'] })).toThrow(`${dir}: no score.weight (the reward head) (head tensors in the folder: value_head.weight)`)
    value.dispose()
  })

  it('loads a reward model saved as LlamaForSequenceClassification (num_labels 1) for scoring only', async () => {
    const dir = fresh('rm')
    const score = { dtype: 'float32', shape: [1, 32], data: new Float32Array(32).fill(0.25) } as RawTensor
    const rmConfig = { architectures: ['LlamaForSequenceClassification'], id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 }, pad_token_id: 264 }
    writeGpt2Llama(dir, rmConfig, ['lm_head.weight'], { 'score.weight': score })
    expect(() => loadModel(dir)).toThrow(`${dir}: is a reward model (LlamaForSequenceClassification, no lm_head); it scores text and cannot generate it`)

    const rm = loadModel(dir, { scoringOnly: true, heads: ['reward'] })
    expect(rm).toMatchObject({ kind: 'reward', grownRows: 4, headsInFolder: ['reward'] })
    expect(rm.config.tie_embeddings).toBe(true)
    // GPT-2 style ids: pad == bos == eos; the mask says where each row ends.
    const eot = rm.tokenizer.special.eos
    const ids = [[eot, 10, 11, eot, eot], [eot, 12, 13, 14, eot]]
    const scores = rm.heads.reward!.score(rm.model, ids, rightPaddedMask([4, 5], 5))
    expect(scores.shape).toEqual([2])
    scores.dispose()
    rm.dispose()

    // Imported, it stays a sequence classifier.
    const imported = (await importHfCheckpoint(dir, fresh('rm-imported'))).dir
    expect(JSON.parse(fs.readFileSync(path.join(imported, 'config.json'), 'utf8'))).toMatchObject({ architectures: ['LlamaForSequenceClassification'], id2label: { 0: 'LABEL_0' } })
    const again = loadModel(imported, { scoringOnly: true, heads: ['reward'] })
    expect(again.kind).toBe('reward')
    expect(Array.from(again.heads.reward!.weight.dataSync())).toEqual(Array.from(score.data))
    again.dispose()

    const twoLabels = fresh('rm2')
    writeGpt2Llama(twoLabels, { ...rmConfig, id2label: { 0: 'A', 1: 'B' } }, ['lm_head.weight'], { 'score.weight': score })
    expect(() => loadModel(twoLabels, { scoringOnly: true })).toThrow(/LlamaForSequenceClassification with 2 labels is not supported: a reward model has one \(num_labels 1\)/)
    const noScore = fresh('rm3')
    writeGpt2Llama(noScore, rmConfig, ['lm_head.weight'])
    expect(() => loadModel(noScore, { scoringOnly: true })).toThrow(`${noScore}: config.json says LlamaForSequenceClassification, but the weights have no score.weight`)
  })
})

describe('an imported model through chat, gold evaluation and SFT', () => {
  it('runs with in-range ids and the same grown weights everywhere', async () => {
    const hf = fresh('hf')
    writeGpt2Llama(hf)
    const home = fresh('home')
    const imported = await importHfFolder(home, hf, { name: 'gpt2-llama' })
    // The model's own vocabulary is reported; the 4 chat tokens grow it on every load.
    expect(imported.vocabSize).toBe(BASE_VOCAB)
    expect(imported.warnings.join('\n')).toMatch(new RegExp(`the tokenizer lacked <\\|system\\|>, <\\|user\\|>, <\\|assistant\\|>, <\\|end\\|>: .*grows from ${BASE_VOCAB} to ${BASE_VOCAB + 4} rows`))
    const dir = imported.checkpointDir

    const ref = loadModel(dir)
    const fromHf = loadModel(hf)
    expect(rows(ref.model.weights['model.embed_tokens.weight'])).toEqual(rows(fromHf.model.weights['model.embed_tokens.weight']))
    fromHf.dispose()
    const prompt = chatPrompt(ref.tokenizer, undefined, MESSAGES, 32)
    expect(Math.max(...prompt)).toBeGreaterThanOrEqual(BASE_VOCAB) // the chat tokens: only in range once grown
    expect(Math.max(...prompt)).toBeLessThan(ref.model.config.vocab_size)

    // Chat: the same greedy reply as the reference model.
    const expected = await greedyChat(ref.model, ref.tokenizer, 6)
    const engine = new ChatEngine({ backend: 'cpu' })
    try {
      const reply = await engine.generate(chatArgs(dir, 6), () => {})
      expect({ text: reply.text, tokens: reply.tokens }).toEqual(expected)
    } finally {
      engine.dispose()
    }

    // Gold evaluation: each recorded answer is the reference model's greedy answer.
    const tasks = path.join(root, 'tasks.jsonl')
    const items = ['What is two plus two?', 'Name a colour.'].map((prompt, i) => ({
      id: `t${i}`, kind: 'fact', category: 'test', messages: [{ role: 'user', content: prompt }], prompt, reference: 'x', gold: { check: { type: 'contains', answers: ['x'], distractors: [] } },
    }))
    fs.writeFileSync(tasks, items.map((it) => JSON.stringify(it)).join('\n') + '\n')
    const evalCtx = context(fresh('eval-run'), [{ role: 'model', checkpointDir: dir }])
    await goldEvalStage.run(evalCtx, resolveConfig(goldEvalStage.schema, { tasks, max_new_tokens: 4 }))
    const samples = (evalCtx.tracker as MemoryTracker).samples
    expect(samples).toHaveLength(2)
    for (const [i, item] of items.entries()) {
      const out = await generate(ref.model, encodeChatPrompt(ref.tokenizer, item.messages as never), { maxNewTokens: 4, temperature: 0, stopIds: chatStopTokens(ref.tokenizer) })
      expect(samples[i].response).toBe(ref.tokenizer.decode(out.ids).trim())
    }

    // SFT at learning rate 0 saves exactly the weights it started from: the grown ones.
    const data = path.join(root, 'qa.jsonl')
    fs.writeFileSync(data, ['hello', 'bye'].map((t) => JSON.stringify({ prompt: `say ${t}`, response: t })).join('\n') + '\n')
    const sft = getStage('sft')
    const config = resolveConfig(sft.schema, { base: dir, data: [data], max_steps: 1, batch_size: 2, lr: 0, weight_decay: 0, warmup_steps: 0, val_fraction: 0, sample_count: 0, checkpoint_every: 0 })
    const result = await sft.run(context(fresh('sft-run')), config)
    const saved = readSafetensors(path.join(result.checkpointDir!, 'model.safetensors')).tensors
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      expect(saved[name].shape, name).toEqual([BASE_VOCAB + 4, 32])
      expect(Array.from(saved[name].data), name).toEqual(Array.from(ref.model.weights[name].dataSync()))
    }
    // The fine-tuned checkpoint's tokenizer now holds the chat tokens: nothing grows any more.
    const tuned = loadModel(result.checkpointDir!)
    expect(tuned.grownRows).toBe(0)
    expect(tuned.tokenizer.special).toEqual(ref.tokenizer.special)
    tuned.dispose()
    ref.dispose()
  }, 120_000)
})

describe('the chat engine and re-saved checkpoints', () => {
  it('serves the new weights after a checkpoint folder is saved again', async () => {
    const tokenizer = Tokenizer.train(['the cat sat on the mat and the dog ran'], { vocabSize: 280 })
    const cfg = { vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }
    const dir = fresh('resaved')
    const first = Llama.create(cfg, 1)
    const second = Llama.create(cfg, 2)
    const expectFirst = await greedyChat(first, tokenizer, 8)
    const expectSecond = await greedyChat(second, tokenizer, 8)
    expect(expectSecond).not.toEqual(expectFirst) // else the test could not tell the two apart

    const engine = new ChatEngine({ backend: 'cpu' })
    try {
      await saveCheckpoint(dir, { config: first.config, weights: first.weights, tokenizer })
      const print = modelFolderFingerprint(dir)
      const a = await engine.generate(chatArgs(dir, 8), () => {})
      expect({ text: a.text, tokens: a.tokens }).toEqual(expectFirst)

      await saveCheckpoint(dir, { config: second.config, weights: second.weights, tokenizer })
      expect(modelFolderFingerprint(dir)).not.toBe(print)
      const b = await engine.generate(chatArgs(dir, 8), () => {})
      expect({ text: b.text, tokens: b.tokens }).toEqual(expectSecond)
      // Unchanged files: the cached model is reused (no second copy held).
      const before = tf.memory().numTensors
      await engine.generate(chatArgs(dir, 8), () => {})
      expect(tf.memory().numTensors).toBe(before)
    } finally {
      engine.dispose()
      first.dispose()
      second.dispose()
    }
  }, 60_000)
})
