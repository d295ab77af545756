// The stages in-process (no worker): SFT learns a tiny instruction set the base model cannot
// answer; bad inputs surface as clear errors naming the file, line and field.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { resolveConfig } from '../../core/config/schema'
import { chatStopTokens, encodeChatPrompt } from '../../core/data'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { generate } from '../../core/model/generate'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { folderParentsIntoConfig, getStage, listStages } from '../../core/train/stages/registry'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'

const QA = [
  ['What color is the sky?', 'blue'],
  ['What color is grass?', 'green'],
  ['How many legs has a cat?', '4'],
  ['What is the opposite of hot?', 'cold'],
  ['What animal says moo?', 'cow'],
  ['What comes after Monday?', 'Tuesday'],
]

let backend: BackendInfo
let dir: string
let baseDir: string
let sftData: string

function context(runDir: string): StageContext {
  fs.mkdirSync(runDir, { recursive: true })
  return {
    runId: 'test-run',
    tracker: new MemoryTracker('test-run', dir),
    signal: new AbortController().signal,
    runDir,
    home: dir,
    parents: [],
    seed: 0,
    backend,
    log: () => {},
    progress: () => {},
  }
}

/** Greedy answers to every question that equal the gold answer exactly. */
async function exactMatches(checkpoint: string): Promise<number> {
  const { model, tokenizer } = loadModel(checkpoint)
  let correct = 0
  for (const [question, answer] of QA) {
    const prompt = encodeChatPrompt(tokenizer, [{ role: 'user', content: question }])
    const out = await generate(model, prompt, { maxNewTokens: 6, temperature: 0, stopIds: chatStopTokens(tokenizer) })
    if (tokenizer.decode(out.ids, { skipSpecial: true }).trim() === answer) correct++
  }
  model.dispose()
  return correct
}

beforeAll(async () => {
  backend = await initBackend()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-stages-'))
  const tokenizer = Tokenizer.train([QA.flat().join(' ')], { vocabSize: 300 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 48 }, 0)
  baseDir = path.join(dir, 'base')
  await saveCheckpoint(baseDir, { config: model.config, weights: model.weights, tokenizer })
  model.dispose()
  sftData = path.join(dir, 'qa.jsonl')
  fs.writeFileSync(sftData, QA.map(([prompt, response]) => JSON.stringify({ prompt, response })).join('\n') + '\n')
})

describe('registry', () => {
  it('lists the stages and names the known ones for an unknown name', () => {
    expect(listStages().map((s) => s.name)).toEqual(expect.arrayContaining(['tokenizer', 'pretrain', 'sft']))
    expect(() => getStage('ppo2')).toThrow(/unknown stage "ppo2" \(known stages: .*sft/)
  })

  it('puts a folder-only parent into the config key of its role', () => {
    expect(folderParentsIntoConfig('sft', { data: ['x'] }, [{ role: 'base', checkpointDir: '/m' }])).toEqual({ data: ['x'], base: '/m' })
    expect(folderParentsIntoConfig('sft', { base: '/given' }, [{ role: 'base', checkpointDir: '/m' }])).toEqual({ base: '/given' })
    expect(folderParentsIntoConfig('sft', {}, [{ role: 'base', runId: 'r1' }])).toEqual({})
    expect(() => folderParentsIntoConfig('sft', {}, [{ role: 'reward', checkpointDir: '/m' }])).toThrow(/no use for a parent folder with role "reward"/)
  })
})

describe('tokenizer stage', () => {
  it('trains, records the artifact and copies tokenizer.json to out', async () => {
    const stage = getStage('tokenizer')
    const out = path.join(dir, 'exported', 'tok.json')
    const ctx = context(path.join(dir, 'runs', 'tok'))
    const text = path.join(dir, 'qa.txt')
    fs.writeFileSync(text, QA.flat().join('\n'))
    const result = await stage.run(ctx, resolveConfig(stage.schema, { data: [text], vocab_size: 280, out }))
    expect(result.summary.vocab_size).toBeLessThanOrEqual(280)
    expect(Tokenizer.load(out).encode('What color is the sky?')).toEqual(Tokenizer.load(String(result.summary.tokenizer)).encode('What color is the sky?'))
    expect((ctx.tracker as MemoryTracker).artifacts.map((a) => a.kind)).toEqual(['tokenizer'])
  })
})

describe('sft stage', () => {
  it('learns a tiny instruction set the base cannot answer (loss on assistant tokens only)', async () => {
    const before = await exactMatches(baseDir)
    const stage = getStage('sft')
    const config = resolveConfig(stage.schema, {
      ...stage.presets!.tiny,
      base: baseDir,
      data: [sftData],
      lr: 5e-3,
      batch_size: 6,
      max_steps: 80,
      val_fraction: 0,
      sample_count: 1,
      sample_every: 40,
      sample_tokens: 4,
      log_every: 10,
      checkpoint_every: 0,
    })
    const ctx = context(path.join(dir, 'runs', 'sft'))
    const result = await stage.run(ctx, config)
    expect(result.stopped).toBeFalsy()
    expect(result.summary.steps).toBe(80)
    expect(result.summary.examples).toBe(QA.length)
    const after = await exactMatches(result.checkpointDir!)
    expect(before).toBe(0)
    expect(after).toBeGreaterThanOrEqual(QA.length - 1)
    const tracker = ctx.tracker as MemoryTracker
    expect(tracker.samples.length).toBeGreaterThan(0)
    expect(tracker.samples[0].prompt).toContain('<|assistant|>')
  })

  it('derives max_steps from epochs', async () => {
    const stage = getStage('sft')
    const config = resolveConfig(stage.schema, { base: baseDir, data: [sftData], epochs: 3, batch_size: 4, val_fraction: 0, sample_count: 0 })
    const result = await stage.run(context(path.join(dir, 'runs', 'epochs')), config)
    expect(result.summary.steps).toBe(Math.ceil((QA.length * 3) / 4))
  })
})

describe('bad inputs give clear errors', () => {
  const sft = () => getStage('sft')
  const pretrain = () => getStage('pretrain')
  const run = (stageName: 'sft' | 'pretrain', input: Record<string, unknown>) => {
    const stage = stageName === 'sft' ? sft() : pretrain()
    const config = resolveConfig(stage.schema, { sample_count: 0, max_steps: 2, batch_size: 2, ...input })
    return stage.run(context(path.join(dir, 'runs', `bad-${Math.random().toString(36).slice(2)}`)), config)
  }

  it('SFT: a malformed line, a missing field, no trainable token, no base', async () => {
    const bad = path.join(dir, 'bad.jsonl')
    fs.writeFileSync(bad, '{"prompt": "hi", "response": "yo"}\n{not json\n')
    await expect(run('sft', { base: baseDir, data: [bad] })).rejects.toThrow(/bad\.jsonl:2/)
    fs.writeFileSync(bad, '{"prompt": "hi", "response": "yo"}\n{"instruction": "hi"}\n')
    await expect(run('sft', { base: baseDir, data: [bad] })).rejects.toThrow(/bad\.jsonl:2.*output/)
    // skip_invalid counts the bad line and trains on the rest.
    const ok = await run('sft', { base: baseDir, data: [bad], skip_invalid: true, val_fraction: 0 })
    expect(ok.summary.skipped_invalid).toBe(1)
    fs.writeFileSync(bad, JSON.stringify({ messages: [{ role: 'user', content: 'only a question' }] }) + '\n')
    await expect(run('sft', { base: baseDir, data: [bad] })).rejects.toThrow(/bad\.jsonl:1: field "messages": has no assistant turn/)
    // Every example longer than seq_len and overflow=drop: nothing left to train on.
    await expect(run('sft', { base: baseDir, data: [sftData], seq_len: 8, overflow: 'drop' })).rejects.toThrow(/no trainable \(assistant\) tokens.*dropped/)
    await expect(run('sft', { data: [sftData] })).rejects.toThrow(/sft needs a base model/)
    await expect(run('sft', { base: path.join(dir, 'nowhere'), data: [sftData] })).rejects.toThrow(/base ".*nowhere" is not a checkpoint folder/)
  })

  it('pretrain: an empty file, non-UTF-8 bytes, a missing path', async () => {
    const empty = path.join(dir, 'empty.txt')
    fs.writeFileSync(empty, '')
    await expect(run('pretrain', { data: [empty], vocab_size: 300 })).rejects.toThrow(/empty\.txt/)
    const latin1 = path.join(dir, 'latin1.txt')
    fs.writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x6f, 0x6b]))
    await expect(run('pretrain', { data: [latin1], vocab_size: 300 })).rejects.toThrow(/latin1\.txt.*UTF-8/)
    await expect(run('pretrain', { data: [path.join(dir, 'missing.txt')], vocab_size: 300 })).rejects.toThrow(/missing\.txt/)
  })
})
