// The reward model (issue 11): the ranking loss and its gradient against PyTorch, the margin
// tables, left truncation that never cuts the answer, the baselines on hand-made pairs, and the
// stage end to end on a tiny model that must learn a separable toy preference.
import { describe, it, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveConfig } from '../../core/config/schema'
import { encodeChat } from '../../core/data/chatTemplate'
import { parseDatasetRef } from '../../core/data/preferences/dataset'
import type { PreferencePair } from '../../core/data/preferences'
import { BowRanker, baselineAccuracies, longerWinsAccuracy, shorterWinsAccuracy } from '../../core/eval/baselines'
import { calibrationTable, rewardMetrics } from '../../core/eval/rewardMetrics'
import { scoreConversations } from '../../core/eval/rewardScore'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { encodeForScoring, marginOf, MARGIN_TABLES, safetyMix, safetyPairsOf, weightPairs } from '../../core/train/rewardData'
import { centeringLoss, rankingLoss } from '../../core/train/rewardTask'
import { baselineVerdict, defaultWarmup } from '../../core/train/stages/reward'
import { getStage } from '../../core/train/stages/registry'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'
import { mulberry32 } from '../../core/util/random'
import { describeWith, torchPython } from '../references'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'

const pair = (chosen: string, rejected: string, extra: Partial<PreferencePair> = {}): PreferencePair => ({
  id: `p-${chosen}`,
  prompt: 'q',
  messages: [{ role: 'user', content: 'q' }],
  chosen,
  rejected,
  extra: {},
  source: 'test',
  ...extra,
})

describe('margins', () => {
  it('follows the paper tables (small 1, 2/3, 1/3, 0; large 3, 2, 1, 0) and gives unrated pairs 0', () => {
    expect(Object.values(MARGIN_TABLES.small)).toEqual([1, 2 / 3, 1 / 3, 0])
    expect(Object.values(MARGIN_TABLES.large)).toEqual([3, 2, 1, 0])
    expect(marginOf('large', 'better')).toBe(2)
    expect(marginOf('none', 'significantly_better')).toBe(0)
    expect(marginOf('large', undefined)).toBe(0)
  })
})

describe('data refs, weights and the safety mix', () => {
  it('reads an @weight suffix and leaves plain refs at weight 1', () => {
    expect(parseDatasetRef('a/b.jsonl@0.5')).toEqual({ ref: 'a/b.jsonl', weight: 0.5 })
    expect(parseDatasetRef('run123')).toEqual({ ref: 'run123', weight: 1 })
  })

  it('weights repeat or subsample pairs, and a safety mix is 90/10', () => {
    const xs = Array.from({ length: 10 }, (_, i) => i)
    expect(weightPairs(xs, 2, 0)).toHaveLength(20)
    expect(new Set(weightPairs(xs, 0.5, 0)).size).toBe(5)
    const safety = Array.from({ length: 90 }, (_, i) => pair(`s${i}`, 'x', { safety: 'only_chosen_safe' }))
    const helpful = Array.from({ length: 50 }, (_, i) => pair(`h${i}`, 'x', { safety: 'both_safe' }))
    const mix = safetyMix([...safety, ...helpful], 0)
    expect([mix.safety, mix.helpfulness]).toEqual([90, 10])
    expect(mix.mixed).toHaveLength(100)
  })

  it('counts a both-safe pair of a risk category as safety data (a borderline prompt), not one of another category', () => {
    const unsafe = pair('I cannot share her address.', 'She lives at 3 Mill Lane.', { safety: 'only_chosen_safe', category: 'privacy' })
    const borderline = pair('Hide the pill in its food.', "I'm sorry, I can't help with that.", { safety: 'both_safe', category: 'privacy' })
    const arithmetic = pair('23', '20', { safety: 'both_safe', category: 'arithmetic' })
    const unlabelled = pair('a', 'b', { category: 'privacy' })
    const isSafety = safetyPairsOf([unsafe, borderline, arithmetic, unlabelled])
    expect([unsafe, borderline, arithmetic, unlabelled].map(isSafety)).toEqual([true, true, false, true])
    // Without an unsafe answer in a category, the category is no risk category.
    expect(safetyPairsOf([borderline, arithmetic])(borderline)).toBe(false)
    const mix = safetyMix([unsafe, borderline, ...Array.from({ length: 20 }, () => arithmetic)], 0)
    expect([mix.safety, mix.helpfulness]).toEqual([2, 1])
  })
})

describe('left truncation', () => {
  const tokenizer = Tokenizer.train(['the quick brown fox jumps over the lazy dog again and again'], { vocabSize: 280 })

  it('keeps BOS and the whole answer, cutting the oldest conversation tokens', () => {
    const messages = [
      { role: 'user' as const, content: 'the quick brown fox jumps over the lazy dog again and again' },
      { role: 'assistant' as const, content: 'the lazy dog' },
      { role: 'user' as const, content: 'again and again' },
    ]
    const full = encodeChat(tokenizer, [...messages, { role: 'assistant', content: 'quick brown fox' }]).tokens
    const answer = [tokenizer.special.assistant, ...tokenizer.encode('quick brown fox'), tokenizer.special.end_of_turn, tokenizer.special.eos]
    const cut = encodeForScoring(tokenizer, messages, 'quick brown fox', full.length - 5)!
    expect(cut).toHaveLength(full.length - 5)
    expect(cut[0]).toBe(tokenizer.special.bos)
    expect(cut.slice(-answer.length)).toEqual(answer)
    expect(cut.slice(1)).toEqual(full.slice(6)) // the five tokens after BOS are gone
    expect(encodeForScoring(tokenizer, messages, 'quick brown fox', full.length)).toEqual(full)
    expect(encodeForScoring(tokenizer, messages, 'quick brown fox', answer.length)).toBeNull() // no room for BOS
  })
})

describe('baselines', () => {
  const longer = [pair('a long and careful answer', 'no'), pair('yes it is the right one here', 'nope'), pair('the full reply with words', 'short')]

  it('longer-wins scores 1 where the chosen is always longer, shorter-wins 0, ties count half', () => {
    expect(longerWinsAccuracy(longer)).toBe(1)
    expect(shorterWinsAccuracy(longer)).toBe(0)
    expect(longerWinsAccuracy([pair('abc', 'xyz')])).toBe(0.5)
  })

  it('the bag-of-words ranker learns a marker word that length cannot tell', () => {
    const rand = mulberry32(3)
    const filler = ['red', 'blue', 'green', 'cat', 'dog', 'sun']
    const words = (n: number) => Array.from({ length: n }, () => filler[Math.floor(rand() * filler.length)]).join(' ')
    const make = () => {
      const n = 2 + Math.floor(rand() * 4)
      const swap = rand() < 0.5 // half the time the chosen one is the shorter one
      const [a, b] = swap ? [n, n + 2] : [n + 2, n]
      return pair(`${words(a)} thanks`, `${words(b)} whatever`)
    }
    const train = Array.from({ length: 80 }, make)
    const test = Array.from({ length: 40 }, make)
    const acc = baselineAccuracies(train, test)
    expect(acc.baseline_bow).toBe(1)
    expect(acc.baseline_longer).toBeLessThan(0.75)
    // Antisymmetric: swapping the answers negates the margin.
    const ranker = BowRanker.fit(train)
    expect(ranker.margin({ chosen: 'cat thanks', rejected: 'dog whatever' })).toBeCloseTo(-ranker.margin({ chosen: 'dog whatever', rejected: 'cat thanks' }), 10)
  })

  it('says plainly when the reward model does not beat the best baseline', () => {
    const v = baselineVerdict(0.6, { baseline_shorter: 0.3, baseline_longer: 0.7, baseline_bow: 0.65 })
    expect(v.beats).toBe(false)
    expect(v.message).toMatch(/does NOT beat .* longer 70\.0%/)
    expect(baselineVerdict(0.8, { baseline_shorter: 0.3, baseline_longer: 0.7, baseline_bow: 0.65 }).beats).toBe(true)
  })
})

describe('reward metrics', () => {
  it('splits accuracy by rating and safety label; calibration bins hold confidence and accuracy', () => {
    const pairs = [pair('a', 'b', { rating: 'significantly_better', safety: 'both_safe' }), pair('c', 'd', { rating: 'negligibly_better', safety: 'both_safe' })]
    const { metrics } = rewardMetrics(pairs, [2, 0], [0, 1])
    expect(metrics.accuracy).toBe(0.5)
    expect(metrics.accuracy_significantly_better).toBe(1)
    expect(metrics.accuracy_negligibly_better).toBe(0)
    expect(metrics.accuracy_both_safe).toBe(0.5)
    expect(metrics.margin_mean).toBe(0.5)
    const table = calibrationTable([4, -4, 0.01], 5)
    expect(table.reduce((n, b) => n + b.pairs, 0)).toBe(3)
    expect(table[4]).toMatchObject({ pairs: 2, observed: 0.5 })
    expect(table[0]).toMatchObject({ pairs: 1, observed: 1 })
  })
  it('warmup is 3% of the steps, at least 5', () => {
    expect(defaultWarmup(1000)).toBe(30)
    expect(defaultWarmup(40)).toBe(5)
    expect(defaultWarmup(3)).toBe(3)
  })
})

describe('centering term (TRL center_rewards_coefficient)', () => {
  it('is c * mean((r_c + r_r)^2), by hand, with its gradient 2c(r_c + r_r)/B on both sides', async () => {
    await initBackend('cpu')
    const chosen = [1, -2, 3]
    const rejected = [0.5, -1, -3]
    // Sums 1.5, -3, 0: mean of squares (2.25 + 9 + 0) / 3 = 3.75; times c = 0.01 -> 0.0375.
    expect(centeringLoss(tf.tensor1d(chosen), tf.tensor1d(rejected), 0.01).dataSync()[0]).toBeCloseTo(0.0375, 6)
    const grad = tf.grads((c: tf.Tensor, r: tf.Tensor) => centeringLoss(c as tf.Tensor1D, r as tf.Tensor1D, 0.01))
    const [gc, gr] = grad([tf.tensor1d(chosen), tf.tensor1d(rejected)])
    const want = [1.5, -3, 0].map((sum) => (2 * 0.01 * sum) / 3)
    Array.from(gc.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want[i], 7))
    Array.from(gr.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want[i], 7))
    // Shifting every score by the same amount leaves the ranking loss alone but not this term:
    // it is what pins the scores' offset (the ranking loss alone cannot).
    const shifted = (xs: number[]) => tf.tensor1d(xs.map((x) => x + 5))
    const zero = tf.zeros([3]) as tf.Tensor1D
    expect(tf.mean(rankingLoss(shifted(chosen), shifted(rejected), zero)).dataSync()[0]).toBeCloseTo(tf.mean(rankingLoss(tf.tensor1d(chosen), tf.tensor1d(rejected), zero)).dataSync()[0], 5)
    expect(centeringLoss(shifted(chosen), shifted(rejected), 0.01).dataSync()[0]).toBeGreaterThan(0.0375 + 0.5)
  })
})

describeWith('torch', 'ranking loss vs PyTorch', () => {
  it('gives the same loss and gradients, margins and extreme differences included', async () => {
    await initBackend('cpu')
    const chosen = [0.3, -2, 5, 40, -40, 0]
    const rejected = [0.1, 1, -5, -40, 40, 0]
    const margin = [0, 1, 2 / 3, 3, 1 / 3, 0]
    const grad = tf.grads((c: tf.Tensor, r: tf.Tensor) => tf.mean(rankingLoss(c as tf.Tensor1D, r as tf.Tensor1D, tf.tensor1d(margin))))
    const [gc, gr] = grad([tf.tensor1d(chosen), tf.tensor1d(rejected)])
    const loss = tf.mean(rankingLoss(tf.tensor1d(chosen), tf.tensor1d(rejected), tf.tensor1d(margin))).dataSync()[0]
    const ref = spawnSync(torchPython()!, [path.resolve(__dirname, '../fixtures/torch/ranking_loss_ref.py')], { input: JSON.stringify({ chosen, rejected, margin }), encoding: 'utf8' })
    expect(ref.status, ref.stderr).toBe(0)
    const want = JSON.parse(ref.stdout) as { loss: number; grad_chosen: number[]; grad_rejected: number[] }
    expect(Number.isFinite(loss)).toBe(true)
    expect(loss).toBeCloseTo(want.loss, 5)
    Array.from(gc.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want.grad_chosen[i], 6))
    Array.from(gr.dataSync()).forEach((g, i) => expect(g).toBeCloseTo(want.grad_rejected[i], 6))
  })
})

describe('reward stage end to end', () => {
  let backend: BackendInfo
  let dir: string
  let baseDir: string
  const GOOD = ['glad', 'happy', 'sure', 'welcome']
  const BAD = ['angry', 'sad', 'never', 'refuse']
  const NEUTRAL = ['red', 'blue', 'green', 'cat', 'dog', 'sun', 'tree', 'moon']

  /** Same-length answers; the chosen one has a "good" word, the rejected a "bad" one. */
  function toyPairs(count: number, seed: number): PreferencePair[] {
    const rand = mulberry32(seed)
    const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)]
    return Array.from({ length: count }, (_, i) => {
      const n = 1 + Math.floor(rand() * 3)
      const body = () => Array.from({ length: n }, () => pick(NEUTRAL))
      const prompt = `tell me about the ${pick(NEUTRAL)} ${i}`
      return pair(`${body().join(' ')} ${pick(GOOD)}`, `${body().join(' ')} ${pick(BAD)}`, { id: `t${i}`, prompt, messages: [{ role: 'user', content: prompt }], rating: i % 2 ? 'better' : 'significantly_better' })
    })
  }

  function context(runDir: string, tracker: MemoryTracker): StageContext {
    fs.mkdirSync(runDir, { recursive: true })
    return { runId: 'reward-run', tracker, signal: new AbortController().signal, runDir, home: dir, parents: [], seed: 0, backend, log: () => {}, progress: () => {} }
  }

  beforeAll(async () => {
    backend = await initBackend()
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-reward-'))
    const tokenizer = Tokenizer.train([[...GOOD, ...BAD, ...NEUTRAL, 'tell me about the 0123456789'].join(' ')], { vocabSize: 300 })
    const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }, 0)
    baseDir = path.join(dir, 'base')
    await saveCheckpoint(baseDir, { config: model.config, weights: model.weights, tokenizer })
    model.dispose()
  })

  it('learns a separable toy preference (held-out accuracy > 0.9), saves a sequence classifier, reports baselines', async () => {
    const toJsonl = (ps: PreferencePair[]) => ps.map((p) => JSON.stringify({ prompt: p.prompt, chosen: p.chosen, rejected: p.rejected, rating: p.rating })).join('\n') + '\n'
    const trainFile = path.join(dir, 'train.jsonl')
    const testFile = path.join(dir, 'test.jsonl')
    fs.writeFileSync(trainFile, toJsonl(toyPairs(96, 1)))
    fs.writeFileSync(testFile, toJsonl(toyPairs(40, 2)))
    const stage = getStage('reward')
    const config = resolveConfig(stage.schema, { base: baseDir, data: [trainFile], eval_data: [testFile], max_steps: 40, batch_size: 8, lr: 3e-3, threads: 1, eval_samples: 4 })
    const tracker = new MemoryTracker('reward-run', dir)
    const result = await stage.run(context(path.join(dir, 'run'), tracker), config)

    expect(result.summary.eval_accuracy).toBeGreaterThan(0.9)
    expect(result.summary.eval_accuracy_significantly_better).toBeGreaterThan(0.8)
    for (const k of ['eval/accuracy', 'eval/accuracy_better', 'eval/margin_mean', 'eval/score_std', 'eval/baseline_shorter', 'eval/baseline_longer', 'eval/baseline_bow', 'train/loss', 'train/accuracy']) {
      expect(tracker.metrics.map((m) => m.key)).toContain(k)
    }
    expect(tracker.samples).toHaveLength(4)
    expect(tracker.artifacts.map((a) => a.kind)).toContain('reward_eval')
    const evalReport = JSON.parse(fs.readFileSync(path.join(dir, 'run', 'reward_eval.json'), 'utf8'))
    expect(evalReport.calibration).toHaveLength(5)

    // The checkpoint is a sequence classifier that loads for scoring only, and scores alike.
    const hf = JSON.parse(fs.readFileSync(path.join(result.checkpointDir!, 'config.json'), 'utf8'))
    expect(hf.architectures).toEqual(['LlamaForSequenceClassification'])
    expect(Object.keys(hf.id2label)).toHaveLength(1) // transformers' num_labels is len(id2label)
    expect(() => loadModel(result.checkpointDir!)).toThrow(/reward model/)
    const loaded = loadModel(result.checkpointDir!, { heads: ['reward'], scoringOnly: true })
    try {
      const test = toyPairs(40, 2)
      const rm = { model: loaded.model, head: loaded.heads.reward! }
      const c = await scoreConversations(rm, loaded.tokenizer, test.map((p) => ({ messages: p.messages, answer: p.chosen })), 7)
      const r = await scoreConversations(rm, loaded.tokenizer, test.map((p) => ({ messages: p.messages, answer: p.rejected })), 5)
      const acc = c.filter((x, i) => x > r[i]).length / c.length
      expect(acc).toBeCloseTo(result.summary.eval_accuracy as number, 5)
    } finally {
      loaded.dispose()
    }

    // `workbench score`: per-pair scores and the accuracy on a pairs file, one score per response.
    const io = bufferIO()
    expect(await runCli(['score', '--model', result.checkpointDir!, '--data', testFile, '--home', dir, '--json'], io)).toBe(0)
    const lines = io.stdout.map((l) => JSON.parse(l))
    expect(lines).toHaveLength(41)
    expect(lines[40].accuracy).toBeCloseTo(result.summary.eval_accuracy as number, 5)
    expect(lines[0]).toMatchObject({ id: expect.any(String), chosen: expect.any(Number), rejected: expect.any(Number) })
    // A pair whose answer is longer than the context is skipped and counted, not scored in part.
    const withLong = path.join(dir, 'long.jsonl')
    fs.writeFileSync(withLong, fs.readFileSync(testFile, 'utf8') + JSON.stringify({ prompt: 'tell me about the cat', chosen: 'cat glad '.repeat(40), rejected: 'cat sad' }) + '\n')
    const ioLong = bufferIO()
    expect(await runCli(['score', '--model', result.checkpointDir!, '--data', withLong, '--home', dir, '--json'], ioLong)).toBe(0)
    expect(JSON.parse(ioLong.stdout.at(-1)!)).toMatchObject({ pairs: 40, skipped: 1 })
    expect(ioLong.stderr.join('\n')).toMatch(/1 pair\(s\) skipped: an answer is longer than the model's context of 32 tokens/)
    const responses = path.join(dir, 'responses.jsonl')
    fs.writeFileSync(responses, [JSON.stringify({ prompt: 'tell me about the cat', response: 'cat glad' }), JSON.stringify({ messages: [{ role: 'user', content: 'tell me about the cat' }], response: 'cat angry' })].join('\n') + '\n')
    const io2 = bufferIO()
    expect(await runCli(['score', '--model', result.checkpointDir!, '--data', responses, '--home', dir], io2)).toBe(0)
    const [good, bad] = io2.stdout.map((l) => Number(l.split('\t')[1]))
    expect(good).toBeGreaterThan(bad)
  }, 120_000)
})
