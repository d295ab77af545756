// The winrate and temperature_sweep stages end to end on tiny models (issue 14): a reward-model
// judge, the gold judge, pairs left for people, and diversity against temperature.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveConfig } from '../../core/config/schema'
import { goldItemToLine, type GoldItem } from '../../core/eval/gold'
import { scoreResponses } from '../../core/eval/rewardScore'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { getStage } from '../../core/train/stages/registry'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { answerPrompts, readPairs } from '../../core/train/stages/winrate'
import { normaliseAnswer, referenceScore } from '../../core/eval/references'
import { parsePromptRecord } from '../../core/data/prompts'
import { parseTemperatures } from '../../core/train/stages/temperatureSweep'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'

const QA = [
  ['What color is the sky?', 'blue', 'fact'],
  ['What color is grass?', 'green', 'fact'],
  ['How many legs has a cat?', 'four', 'fact'],
  ['Write a short poem about the sea.', 'sea', 'creative'],
  ['Tell a story about a dog.', 'dog', 'creative'],
]

let backend: BackendInfo
let dir: string
let modelA: string
let modelB: string
let rmDir: string
let promptsFile: string

function context(name: string): StageContext {
  const runDir = path.join(dir, 'runs', name)
  fs.mkdirSync(runDir, { recursive: true })
  return { runId: name, tracker: new MemoryTracker(name, dir), signal: new AbortController().signal, runDir, home: dir, parents: [], seed: 3, backend, log: () => {}, progress: () => {} }
}

function goldItem(id: string, question: string, answer: string, kind: string): GoldItem {
  const check = kind === 'creative' ? { type: 'creative' as const, subjects: [answer], minWords: 3, maxWords: 40 } : { type: 'contains' as const, answers: [answer], distractors: [] }
  return { id, kind, category: kind, messages: [{ role: 'user', content: question }], prompt: question, reference: answer, check }
}

beforeAll(async () => {
  backend = await initBackend()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-winrate-'))
  const tokenizer = Tokenizer.train([QA.flat().join(' ')], { vocabSize: 300 })
  const config = { vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 64 }
  const save = async (name: string, seed: number) => {
    const m = Llama.create(config, seed)
    const out = path.join(dir, name)
    await saveCheckpoint(out, { config: m.config, weights: m.weights, tokenizer })
    m.dispose()
    return out
  }
  modelA = await save('a', 0)
  modelB = await save('b', 1)
  const rm = Llama.create(config, 2)
  const score = tf.tensor2d(Array.from({ length: 32 }, (_, i) => Math.sin(i + 1)), [1, 32])
  rmDir = path.join(dir, 'rm')
  await saveCheckpoint(rmDir, { config: rm.config, weights: { ...rm.weights, 'score.weight': score }, tokenizer, kind: 'reward' })
  rm.dispose()
  score.dispose()
  promptsFile = path.join(dir, 'prompts.jsonl')
  fs.writeFileSync(promptsFile, QA.map(([q, a, k], i) => goldItemToLine(goldItem(`q${i}`, q, a, k))).join('\n') + '\n')
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const metric = (t: MemoryTracker, key: string, step = 0) => t.metrics.find((m) => m.key === key && m.step === step)?.value

describe('winrate stage', () => {
  it('judges A against B by a reward model: win + tie + loss = 1, intervals around them, scores the reward model gives', async () => {
    const stage = getStage('winrate')
    const config = resolveConfig(stage.schema, { model_a: modelA, model_b: modelB, prompts: promptsFile, judge: 'reward', rm: rmDir, max_new_tokens: 8, tie_margin: 0.01, bootstrap: 100 })
    const ctx = context('wr-reward')
    const result = await stage.run(ctx, config)
    const t = ctx.tracker as MemoryTracker
    const [win, tie, loss] = ['win', 'tie', 'loss'].map((k) => metric(t, `winrate/${k}`)!)
    expect(win + tie + loss).toBeCloseTo(1, 12)
    for (const k of ['win', 'tie', 'loss', 'win_rate', 'lc_win']) {
      expect(metric(t, `winrate/${k}_lo`)!).toBeLessThanOrEqual(metric(t, `winrate/${k}`)! + 1e-12)
      expect(metric(t, `winrate/${k}_hi`)!).toBeGreaterThanOrEqual(metric(t, `winrate/${k}`)! - 1e-12)
    }
    expect(metric(t, 'winrate/n')).toBe(QA.length)
    // A pointwise reward model is order-blind: swapping the answers changes no verdict.
    expect(metric(t, 'winrate/swap_flip_rate')).toBe(0)
    expect(result.summary).toMatchObject({ prompts: QA.length, judge: 'reward', win })

    const pairs = readPairs(path.join(ctx.runDir, 'winrate_pairs.jsonl'))
    expect(pairs).toHaveLength(QA.length)
    const rm = loadModel(rmDir, { heads: ['reward'], scoringOnly: true })
    const rescored = await scoreResponses(rm, rm.tokenizer, pairs.map((p) => [...p.messages, { role: 'assistant' as const, content: p.answer_a }]))
    rm.dispose()
    pairs.forEach((p, i) => {
      expect(p.score_a).toBeCloseTo(rescored[i], 4)
      const diff = p.score_a! - p.score_b!
      expect(p.outcome).toBe(diff > 0.01 ? 1 : diff < -0.01 ? 0 : 0.5)
    })
    expect(new Set(pairs.map((p) => p.a_first)).size).toBeGreaterThan(0)
    expect(t.samples).toHaveLength(QA.length)
  }, 120_000)

  it('a model against itself under the gold judge: every pair a tie, win rate 0.5', async () => {
    const stage = getStage('winrate')
    const config = resolveConfig(stage.schema, { model_a: modelA, model_b: modelA, prompts: promptsFile, judge: 'gold', max_new_tokens: 6, bootstrap: 50 })
    const ctx = context('wr-gold')
    await stage.run(ctx, config)
    const t = ctx.tracker as MemoryTracker
    expect(metric(t, 'winrate/tie')).toBe(1)
    expect(metric(t, 'winrate/win_rate')).toBe(0.5)
    expect(metric(t, 'winrate/lc_win')).toBeCloseTo(0.5, 6)
  }, 120_000)

  it('leaves the pairs for people with judge=human, A\'s side hidden by a seeded coin', async () => {
    const stage = getStage('winrate')
    const config = resolveConfig(stage.schema, { model_a: modelA, model_b: modelB, prompts: promptsFile, judge: 'human', max_new_tokens: 4 })
    const ctx = context('wr-human')
    const result = await stage.run(ctx, config)
    expect(result.summary.awaiting_judgements).toBe(QA.length)
    const pairs = readPairs(path.join(ctx.runDir, 'winrate_pairs.jsonl'))
    expect(pairs.every((p) => p.outcome === undefined)).toBe(true)
    expect((ctx.tracker as MemoryTracker).metrics).toHaveLength(0)
  }, 120_000)

  it('refuses judge=reward without a reward model, and judge=gold on prompts without gold items', () => {
    const stage = getStage('winrate')
    expect(() => stage.precheck!(resolveConfig(stage.schema, { model_a: modelA, model_b: modelB, prompts: promptsFile }))).toThrow(/judge=reward needs a reward model/)
    const plain = path.join(dir, 'plain.jsonl')
    fs.writeFileSync(plain, JSON.stringify({ prompt: 'Hi' }) + '\n')
    expect(() => stage.precheck!(resolveConfig(stage.schema, { model_a: modelA, model_b: modelB, prompts: plain, judge: 'gold' }))).toThrow(/plain.jsonl:1 \(id line-1\) has none/)
  })
})

describe('temperature_sweep stage', () => {
  it('logs diversity and gold figures per temperature for the factual and the creative set', async () => {
    const stage = getStage('temperature_sweep')
    expect(parseTemperatures('0.1, 1.5')).toEqual([0.1, 1.5])
    const config = resolveConfig(stage.schema, { model: modelA, factual: promptsFile, creative: promptsFile, temperatures: '0,1.5', samples: 3, max_new_tokens: 16, rm: rmDir })
    const ctx = context('sweep')
    await stage.run(ctx, config)
    const t = ctx.tracker as MemoryTracker
    for (const set of ['factual', 'creative']) {
      for (const step of [0, 150]) {
        expect(metric(t, `sweep/distinct_1_${set}`, step)).toBeTypeOf('number')
        expect(metric(t, `sweep/reward_${set}`, step)).toBeTypeOf('number')
        expect(metric(t, `sweep/gold_helpfulness_${set}`, step)).toBeTypeOf('number')
      }
      // At T = 0 the three samples are the greedy answer: Self-BLEU 1, a third of the words distinct; at 1.5 they differ.
      expect(metric(t, `sweep/self_bleu_${set}`, 0)).toBeCloseTo(1, 12)
      expect(metric(t, `sweep/distinct_1_${set}`, 0)).toBeCloseTo(1 / 3, 12)
      expect(metric(t, `sweep/self_bleu_${set}`, 150)!).toBeLessThan(0.5)
      expect(metric(t, `sweep/distinct_1_${set}`, 150)!).toBeGreaterThan(0.5)
    }
    expect(metric(t, 'sweep/distinct_2_creative', 150)).toBeTypeOf('number') // at T = 0 the greedy answer is one "word": no bigrams
    expect(metric(t, 'sweep/gold_accuracy_factual', 0)).toBeTypeOf('number')
    expect(metric(t, 'sweep/gold_accuracy_creative', 0)).toBeUndefined() // creative items have no single right answer
  }, 180_000)

  it('refuses a sweep without prompt sets and a bad temperature list', () => {
    const stage = getStage('temperature_sweep')
    expect(() => stage.precheck!(resolveConfig(stage.schema, { model: modelA }))).toThrow(/give a factual prompt set, a creative one, or both/)
    expect(() => resolveConfig(stage.schema, { model: modelA, factual: promptsFile, temperatures: '0.1;0.5' })).toThrow(/comma-separated list of numbers/)
  })
})

describe('reference answers (gold_eval --references)', () => {
  it('scores exact match and contains after light normalisation', () => {
    expect(normaliseAnswer('  "Paris."  ')).toBe('paris')
    expect(referenceScore('Paris', 'paris!')).toEqual({ exact: true, contains: true })
    expect(referenceScore('Paris', 'It is Paris, of course.')).toEqual({ exact: false, contains: true })
    expect(referenceScore('Paris', 'Parisian food')).toEqual({ exact: false, contains: false }) // whole words only
    expect(referenceScore('New York', 'in new  york.')).toEqual({ exact: false, contains: true })
    expect(() => referenceScore(' . ', 'x')).toThrow(/reference is empty/)
  })

  it('scores a user prompt set with references: exact, contains and the reward model\'s mean', async () => {
    // The model's own greedy answer (one that is more than punctuation) is the reference of the first
    // prompt; the second prompt's reference cannot match.
    const { model, tokenizer } = loadModel(modelA)
    const candidates = QA.map(([q], i) => parsePromptRecord({ prompt: q }, { file: 'x', line: i + 1 }))
    const greedyAnswers = await answerPrompts(model, tokenizer, candidates, { seeds: candidates.map(() => 0), temperature: 0, maxNewTokens: 6 })
    model.dispose()
    const k = greedyAnswers.findIndex((a) => normaliseAnswer(a.text) !== '')
    expect(k).toBeGreaterThanOrEqual(0)
    const asked = [{ prompt: QA[k][0] }, { prompt: QA[(k + 1) % QA.length][0] }]
    const greedy = greedyAnswers[k]
    const file = path.join(dir, 'refs.jsonl')
    fs.writeFileSync(file, [{ ...asked[0], reference: greedy.text }, { ...asked[1], reference: 'zebra crossing' }].map((r) => JSON.stringify(r)).join('\n') + '\n')
    const stage = getStage('gold_eval')
    const config = resolveConfig(stage.schema, { model: modelA, references: file, rm: rmDir, max_new_tokens: 6 })
    stage.precheck!(config)
    const ctx = context('refs')
    const result = await stage.run(ctx, config)
    const t = ctx.tracker as MemoryTracker
    expect(metric(t, 'eval/reference_exact')).toBe(0.5)
    expect(metric(t, 'eval/reference_contains')).toBe(0.5)
    expect(metric(t, 'eval/reference_reward')).toBeTypeOf('number')
    expect(result.summary.reference_exact).toBe(0.5)

    const missing = path.join(dir, 'refs-bad.jsonl')
    fs.writeFileSync(missing, JSON.stringify({ prompt: 'Hi' }) + '\n')
    expect(() => stage.precheck!(resolveConfig(stage.schema, { model: modelA, references: missing }))).toThrow(/refs-bad.jsonl:1: field "reference": expected the reference answer/)
  }, 120_000)
})

describe('command line', () => {
  it('workbench winrate and workbench sweep run from the stages\' flags; the leaderboard then ranks the two models', async () => {
    const home = path.join(dir, 'cli-home')
    const common = ['--home', home, '--backend', backend.name, '--json']
    const wr = bufferIO()
    const code = await runCli(['winrate', '--a', modelA, '--b', modelB, '--prompts', promptsFile, '--judge', 'gold', ...common, '--set', 'max_new_tokens=4', '--set', 'bootstrap=50'], wr)
    expect(code, wr.stderr.join('\n')).toBe(0)
    const summary = JSON.parse(wr.stdout[wr.stdout.length - 1])
    expect(summary).toMatchObject({ type: 'summary', status: 'finished', prompts: QA.length, judge: 'gold' })

    const sweep = bufferIO()
    expect(await runCli(['sweep', '--model', modelA, '--creative', promptsFile, '--temperatures', '0,1', '--samples', '2', ...common, '--set', 'max_new_tokens=4'], sweep), sweep.stderr.join('\n')).toBe(0)

    const board = bufferIO()
    expect(await runCli(['leaderboard', '--home', home, '--json', '--reps', '20'], board)).toBe(0)
    const names = board.stdout.map((l) => JSON.parse(l).model).sort()
    expect(names).toEqual([modelA, modelB].sort()) // models given as folders are named by their folder
  }, 180_000)
})
