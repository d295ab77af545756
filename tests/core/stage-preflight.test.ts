// What is checked before a run is recorded (core/jobs/preflight.ts), through the CLI and through
// JobRunner.submit (the path the API takes): a refused run leaves no row, no folder, no tokenizer.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { z } from 'zod'
import { initBackend } from '../../core/backend'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { ConfigError, parseOverride, resolveConfig } from '../../core/config/schema'
import { checkFitsInMemory } from '../../core/jobs/preflight'
import { JobRunner } from '../../core/jobs/runner'
import { Store } from '../../core/tracking/store'
import { getStage, listStages } from '../../core/train/stages/registry'
import { defineStage } from '../../core/train/stages/types'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { llamaConfigToHf } from '../../core/model/hf'
import { MODEL_PRESETS, resolveModelConfig } from '../../core/model/config'
import { Llama } from '../../core/model/llama'
import { Tokenizer } from '../../core/tokenizer'

let home: string
let notes: string

beforeAll(async () => {
  await initBackend('cpu')
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-preflight-'))
  notes = path.join(home, 'notes.txt')
  fs.writeFileSync(notes, 'the cat sat on the mat.\n'.repeat(20))
})

async function cli(argv: string[]) {
  const io = bufferIO()
  const code = await runCli([...argv, '--home', home], io)
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') }
}

function runCount(): number {
  const store = Store.open(home)
  try {
    return store.listRuns({}).length
  } finally {
    store.close()
  }
}

/** A real (random) checkpoint, so that SFT's base resolves and the data check is what fails. */
async function tinyCheckpoint(): Promise<string> {
  const tokenizer = Tokenizer.train(['the cat sat on the mat. '.repeat(20)], { vocabSize: 280 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 16, n_layers: 1, n_heads: 2, n_kv_heads: 1, max_seq_len: 32 }, 1)
  try {
    return await saveCheckpoint(path.join(home, 'ckpt'), { config: model.config, weights: model.weights, tokenizer })
  } finally {
    model.dispose()
  }
}

function file(name: string, text: string): string {
  const full = path.join(home, name)
  fs.writeFileSync(full, text)
  return full
}

describe('config values', () => {
  it('numbers in --set are decimal: 0x10, 1_0, Infinity and blanks are errors', () => {
    const fields = getStage('pretrain').fields
    expect(parseOverride(fields, 'max_steps=16')).toEqual(['max_steps', 16])
    expect(parseOverride(fields, 'lr=1e-3')).toEqual(['lr', 1e-3])
    for (const text of ['0x10', '0o20', '0b10', '1_0', 'Infinity', '']) {
      expect(() => parseOverride(fields, `max_steps=${text}`), text).toThrow(/max_steps: expected a number/)
    }
  })

  it('cross-field model rules are config errors naming the key', () => {
    const schema = getStage('pretrain').schema
    expect(() => resolveConfig(schema, { data: ['a'], n_heads: 4, n_kv_heads: 3 })).toThrow(/n_heads: n_heads 4 is not divisible by n_kv_heads 3/)
    expect(() => resolveConfig(schema, { data: ['a'], dim: 100, n_heads: 3 })).toThrow(/dim: dim 100 is not divisible by n_heads 3/)
    expect(() => resolveConfig(schema, { data: ['a'], n_heads: 4, n_kv_heads: 2 })).not.toThrow()
  })

  it('a stage whose parent key is not a model reference is refused when it is defined', () => {
    const schema = z.object({ base: z.string().optional().meta({ help: 'a string that is not declared as a model' }) }).strict()
    expect(() => defineStage({ name: 'x', title: 'x', description: 'x', schema, parents: [{ role: 'base', key: 'base' }], run: async () => ({ summary: {} }) })).toThrow(
      /parent "base" names key "base", which is not a model reference/,
    )
    for (const stage of listStages()) expect(stage.fields.length, stage.name).toBeGreaterThan(0)
  })

  it('a model larger than the machine is refused with its estimate', () => {
    const stage = getStage('pretrain')
    const config = resolveConfig(stage.schema, { data: ['a'], dim: 4096, n_layers: 32, n_heads: 32 })
    expect(() => checkFitsInMemory(stage, config, 1024 ** 3)).toThrow(/training this model needs about \d+ GiB .* more than this machine's 1\.0 GiB of memory/)
    expect(() => checkFitsInMemory(stage, resolveConfig(stage.schema, { data: ['a'] }), 1024 ** 3)).not.toThrow()
  })

  it("a fine-tuning is estimated on its checkpoint's model: too large is refused before a run, with LoRA as the way out", () => {
    const big = path.join(home, 'big-base')
    fs.mkdirSync(big, { recursive: true })
    // config.json alone: the check reads no weights.
    fs.writeFileSync(path.join(big, 'config.json'), JSON.stringify(llamaConfigToHf(resolveModelConfig({ vocab_size: 32000, dim: 8192, n_layers: 80, n_heads: 64, n_kv_heads: 8, max_seq_len: 4096 }))))
    const runner = new JobRunner({ home })
    const before = runCount()
    expect(() => runner.submit({ stage: 'sft', config: { data: [path.join(home, 'none.jsonl')] }, parents: [{ role: 'base', checkpointDir: big }] })).toThrow(
      /model: training this model needs about .* more than this machine's .* of memory; lower batch_size or seq_len, or fine-tune with finetuning=lora/,
    )
    expect(runCount()).toBe(before)
    const stage = getStage('sft')
    const from = { model: MODEL_PRESETS.tiny }
    expect(() => checkFitsInMemory(stage, resolveConfig(stage.schema, { data: ['a'] }), 1024 ** 3, from)).not.toThrow()
  })
})

describe('before a run is recorded', () => {
  it('pretrain with an invalid model config: one error, exit 2, no run and no tokenizer trained', async () => {
    const r = await cli(['pretrain', '--data', notes, '--set', 'n_heads=4', '--set', 'n_kv_heads=3'])
    expect(r.code).toBe(2)
    expect(r.stderr.match(/not divisible/g)).toHaveLength(1)
    expect(r.stdout).not.toMatch(/tokenizer/)
    expect(runCount()).toBe(0)
  })

  it('absurd sizes are refused with the estimate, at once (no RangeError, no hang)', async () => {
    for (const set of ['dim=1000000000', 'n_layers=1000000']) {
      const r = await cli(['pretrain', '--data', notes, '--set', set])
      expect(r.code, set).toBe(2)
      expect(r.stderr, set).toMatch(/model: training this model needs about .* more than this machine's .* of memory/)
      expect(r.stderr, set).not.toMatch(/RangeError|at .*\.ts:\d+/)
    }
    expect(runCount()).toBe(0)
  })

  it('bad data is refused naming the file and line, through the CLI and the runner alike', async () => {
    const empty = file('empty.txt', '  \n')
    const badJson = file('bad.jsonl', '{"text": "fine"}\n{oops\n')
    const noText = file('notext.jsonl', '{"body": "x"}\n')
    const sftWrong = file('sft.jsonl', '{"question": "q", "answer": "a"}\n')
    const r = await cli(['pretrain', '--data', empty])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/empty\.txt: file is empty/)
    expect((await cli(['tokenizer', 'train', '--data', badJson])).stderr).toMatch(/bad\.jsonl:2: not valid JSON/)
    const runner = new JobRunner({ home })
    expect(() => runner.submit({ stage: 'pretrain', config: { data: [noText] } })).toThrow(/notext\.jsonl:1: field "text": expected a string "text" field/)
    expect(() => runner.submit({ stage: 'pretrain', config: { data: [path.join(home, 'missing.txt')] } })).toThrow(/missing\.txt: does not exist/)
    const base = await tinyCheckpoint()
    expect(() => runner.submit({ stage: 'sft', config: { base, data: [sftWrong] } })).toThrow(/sft\.jsonl:1: unknown SFT format/)
    // skip_invalid tolerates a bad line, but not a file in which nothing parses.
    expect(() => runner.submit({ stage: 'pretrain', config: { data: [noText], skip_invalid: true } })).toThrow(/no documents among the first 1 records/)
    expect(runCount()).toBe(0)
  })

  it('a required parent is checked before the run: sft without a base, gold-eval without a model', async () => {
    const sft = await cli(['sft', '--data', file('ok.jsonl', '{"prompt": "p", "response": "r"}\n')])
    expect(sft.code).toBe(2)
    expect(sft.stderr).toMatch(/base: is required \(a run id or checkpoint folder, or a parent run with role "base"\)/)
    const tasks = file('tasks.jsonl', '{"id": "t1", "prompt": "x"}\n')
    const gold = await cli(['gold-eval', '--tasks', tasks])
    expect(gold.code).toBe(2)
    expect(gold.stderr).toMatch(/model: is required/)
    expect(runCount()).toBe(0)
  })

  it('gold-eval is a command from its stage definition, with help and flags', async () => {
    const help = await cli(['gold-eval', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/Usage: workbench gold-eval --model/)
    expect(help.stdout).toMatch(/max_new_tokens +int/)
    const usage = await cli(['--help'])
    expect(usage.stdout).toMatch(/gold-eval --model/)
    const noSets = await cli(['gold-eval', '--model', await tinyCheckpoint()])
    expect(noSets.stderr).toMatch(/give at least one prompt set/)
    expect(runCount()).toBe(0)
  })

  it('a wrong type in a config file is a ConfigError with the key, expected and got', () => {
    const runner = new JobRunner({ home })
    expect(() => runner.submit({ stage: 'tokenizer', config: { data: [notes], vocab_size: '300' } })).toThrow(ConfigError)
    expect(() => runner.submit({ stage: 'tokenizer', config: { data: [notes], vocab_size: '300' } })).toThrow(/vocab_size: expected a number, got "300"/)
    expect(runCount()).toBe(0)
  })
})
