import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { Tokenizer } from '../../core/tokenizer'
import { Llama } from '../../core/model/llama'
import { generate } from '../../core/model/generate'
import { MemoryTracker } from '../../core/tracking/tracker'
import { trainLoop, type LoopOptions } from '../../core/train/loop'
import type { Batch, BatchStream } from '../../core/train/batches'
import { languageModelTask } from '../../core/train/languageModel'
import { evaluateTask } from '../../core/train/task'
import { perplexityEvaluation } from '../../core/eval/perplexity'
import { ScalarHead } from '../../core/model/heads'
import { loadCheckpoint } from '../../core/model/checkpoint'
import { mulberry32 } from '../../core/util/random'
import { pairwiseRewardTask, randomPairs, type PairBatch } from './fixtures/pairwiseReward'
import { trainingFields, trainingSettings } from '../../core/train/stages/common'
import { resolveConfig } from '../../core/config/schema'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'
import { withoutSyncReads } from '../syncReads'

const TEXT = [
  'the cat sat on the mat and the dog sat on the log.',
  'a bird sang in the tree while the sun rose over the hill.',
  'the fox ran to the river and drank the cold water.',
  'one two three four five six seven eight nine ten.',
].join('\n')

let backend: BackendInfo
let tokenizer: Tokenizer
let stream: Int32Array

beforeAll(async () => {
  backend = await initBackend()
  tokenizer = Tokenizer.train([TEXT], { vocabSize: 300 })
  const ids: number[] = []
  for (let i = 0; i < 6; i++) ids.push(...tokenizer.encode(TEXT, { bos: true, eos: true }))
  stream = Int32Array.from(ids)
})

/** A deterministic source over fixed windows of the stream: batch k takes windows k*B .. k*B+B-1 (mod count). */
class WindowSource implements BatchStream {
  private index = 0
  constructor(
    private readonly seqLen: number,
    private readonly batchSize: number,
  ) {}
  next(): Batch {
    const count = Math.floor((stream.length - 1) / this.seqLen)
    const tokens = new Int32Array(this.batchSize * this.seqLen)
    const targets = new Int32Array(this.batchSize * this.seqLen)
    for (let b = 0; b < this.batchSize; b++) {
      const start = ((this.index * this.batchSize + b) % count) * this.seqLen
      tokens.set(stream.subarray(start, start + this.seqLen), b * this.seqLen)
      targets.set(stream.subarray(start + 1, start + 1 + this.seqLen), b * this.seqLen)
    }
    this.index++
    return { tokens, targets, batchSize: this.batchSize, seqLen: this.seqLen }
  }
  cursor(): unknown {
    return { index: this.index }
  }
  restore(cursor: unknown): void {
    this.index = (cursor as { index: number }).index
  }
}

const MODEL = { vocab_size: 300, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }

function makeContext(runDir: string, tracker: MemoryTracker, signal: AbortSignal, onStep?: (step: number) => void, resumeFrom?: string): StageContext {
  return {
    runId: tracker.runId,
    tracker,
    signal,
    runDir,
    home: runDir,
    parents: [],
    resumeFrom,
    seed: 0,
    backend,
    log: () => {},
    progress: (p) => onStep?.(p.step),
  }
}

function options(ctx: StageContext, model: Llama, overrides: Record<string, unknown>): LoopOptions {
  const config = resolveConfig(
    trainingFields({ lr: 1e-2, warmup_steps: 2, max_steps: 12, batch_size: 4, eval_every: 4, sample_every: 6, checkpoint_every: 4 }),
    { log_every: 1, sample_tokens: 4, sample_count: 1, ...overrides },
  )
  const evalSource = new WindowSource(16, 4)
  const task = languageModelTask(model)
  return {
    ctx,
    model,
    tokenizer,
    settings: trainingSettings(config),
    train: new WindowSource(16, 4),
    task,
    evaluate: perplexityEvaluation([evalSource.next(), evalSource.next()], task),
    samplePrompts: [tokenizer.encode('the cat', { bos: true })],
    stage: 'test',
    runConfig: config,
  }
}

function series(tracker: MemoryTracker, key: string): Map<number, number> {
  const out = new Map<number, number>()
  for (const m of tracker.metrics) if (m.key === key) out.set(m.step, m.value)
  return out
}

describe('trainLoop', () => {
  it('trains, evaluates and checkpoints without a synchronous read (a GPU backend has none)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-async-'))
    const tracker = new MemoryTracker('run-async', dir)
    const model = Llama.create(MODEL, 1)
    const result = await withoutSyncReads(() => trainLoop(options(makeContext(dir, tracker, new AbortController().signal), model, { max_steps: 8, eval_every: 4, checkpoint_every: 4, sample_every: 4 })))
    expect(series(tracker, 'train/loss').size).toBe(8)
    expect([...series(tracker, 'eval/loss').keys()]).toEqual([4, 8])
    expect(fs.existsSync(path.join(result.checkpointDir!, 'model.safetensors'))).toBe(true)
    model.dispose()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('overfits a tiny corpus, evaluates, samples, checkpoints and keeps tensors stable', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const tracker = new MemoryTracker('run-a', dir)
    const model = Llama.create(MODEL, 1)
    // The first generation creates tensors that the model keeps for later ones (a one-time cache).
    await generate(model, [1, 2], { maxNewTokens: 2 })
    const before = tf.memory().numTensors
    const result = await trainLoop(options(makeContext(dir, tracker, new AbortController().signal), model, { max_steps: 40, eval_every: 20, checkpoint_every: 10, keep_last: 2 }))
    expect(tf.memory().numTensors).toBe(before)
    const loss = series(tracker, 'train/loss')
    expect(loss.get(40)!).toBeLessThan(loss.get(1)! * 0.6)
    const evalLoss = series(tracker, 'eval/loss')
    // Every eval_every (20) steps, and at every checkpoint (10, 30) so that each is labelled with its own loss.
    expect([...evalLoss.keys()]).toEqual([10, 20, 30, 40])
    expect(series(tracker, 'eval/perplexity').get(40)).toBeCloseTo(Math.exp(evalLoss.get(40)!), 4)
    for (const key of ['train/lr', 'train/grad_norm', 'train/tokens_per_s', 'train/tokens_seen', 'system/rss_mb']) {
      expect(series(tracker, key).size).toBe(40)
    }
    expect(series(tracker, 'train/tokens_seen').get(40)).toBe(40 * 4 * 16)
    expect(tracker.samples.map((s) => s.step)).toEqual([6, 12, 18, 24, 30, 36, 40])
    expect(result.stopped).toBe(false)
    expect(result.step).toBe(40)
    // keep last 2 (+ best): step 30 and 40 remain; 10 and 20 were removed unless best.
    const kept = fs.readdirSync(path.join(dir, 'checkpoints')).sort()
    expect(kept).toContain('step-0000040')
    expect(kept).toContain('step-0000030')
    expect(kept).not.toContain('step-0000010')
    expect(result.bestCheckpointDir).toBe(path.join(dir, 'checkpoints', 'step-0000040'))
    model.dispose()
  })

  it('stopping and resuming gives the same loss curve as an uninterrupted run', async () => {
    const straightDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const straight = new MemoryTracker('straight', straightDir)
    const m1 = Llama.create(MODEL, 3)
    await trainLoop(options(makeContext(straightDir, straight, new AbortController().signal), m1, {}))
    m1.dispose()

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const first = new MemoryTracker('resumed', dir)
    const abort = new AbortController()
    const m2 = Llama.create(MODEL, 3)
    const part = await trainLoop(options(makeContext(dir, first, abort.signal, (step) => step === 7 && abort.abort()), m2, {}))
    m2.dispose()
    expect(part.stopped).toBe(true)
    expect(part.step).toBe(7)
    expect(part.checkpointDir).toBe(path.join(dir, 'checkpoints', 'step-0000007'))
    // Saved on stop without an evaluation: it carries no eval loss (not the one of step 4's weights).
    expect(first.artifacts.find((a) => a.step === 7)!.meta).toEqual({ eval_loss: null, best: false })

    // A fresh process would build a fresh model (another seed even) and restore everything from the checkpoint.
    const second = new MemoryTracker('resumed', dir)
    const m3 = Llama.create(MODEL, 99)
    const rest = await trainLoop(options(makeContext(dir, second, new AbortController().signal, undefined, part.checkpointDir), m3, {}))
    m3.dispose()
    expect(rest.step).toBe(12)

    for (const key of ['train/loss', 'train/grad_norm', 'train/lr', 'eval/loss', 'train/tokens_seen']) {
      const a = series(straight, key)
      const b = new Map([...series(first, key), ...series(second, key)])
      expect([...b.keys()].sort((x, y) => x - y)).toEqual([...a.keys()].sort((x, y) => x - y))
      for (const [step, value] of a) expect(b.get(step)!, `${key} at step ${step}`).toBeCloseTo(value, 5)
    }
    expect(second.samples.map((s) => s.response)).toEqual(straight.samples.filter((s) => s.step > 7).map((s) => s.response))
  })

  it('skips a bad batch with an event naming it, and stops after too many in a row', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const tracker = new MemoryTracker('bad', dir)
    const model = Llama.create(MODEL, 1)
    const opts = options(makeContext(dir, tracker, new AbortController().signal), model, { max_steps: 6, max_bad_in_row: 3 })
    const good = opts.train
    let served = 0
    // Batch 2 has an all-zero mask (no token carries loss): unusable.
    opts.train = {
      next: () => {
        const b = good.next()!
        return served++ === 2 ? { ...b, mask: new Float32Array(b.tokens.length) } : b
      },
      cursor: () => good.cursor(),
      restore: (c) => good.restore(c),
    }
    await trainLoop(opts)
    const skips = tracker.events.filter((e) => e.kind === 'skip')
    expect(skips).toHaveLength(1)
    expect(skips[0].message).toMatch(/batch 2 skipped: no token in the batch carries loss/)

    const bad = new MemoryTracker('bad2', dir)
    const opts2 = options(makeContext(dir, bad, new AbortController().signal), model, { max_steps: 6, max_bad_in_row: 3 })
    const inner = opts2.train
    opts2.train = {
      next: () => ({ ...inner.next()!, mask: new Float32Array(4 * 16) }),
      cursor: () => inner.cursor(),
      restore: (c) => inner.restore(c),
    }
    await expect(trainLoop(opts2)).rejects.toThrow(/3 unusable batches in a row/)
    model.dispose()
  })

  it('skips a non-finite loss without touching the weights, and stops when it keeps happening', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const tracker = new MemoryTracker('nan', dir)
    const model = Llama.create(MODEL, 1)
    const before = tf.memory().numTensors
    let calls = 0
    const opts = options(makeContext(dir, tracker, new AbortController().signal), model, { max_steps: 6, eval_every: 0, sample_count: 0 })
    const lm = languageModelTask(model)
    opts.task = {
      ...lm,
      replica: undefined, // a test-only loss: one thread
      loss: (b) => {
        const { loss } = lm.loss(b)
        return { loss: ++calls === 3 ? tf.mul(loss, NaN) : loss }
      },
    }
    const result = await trainLoop(opts)
    expect(result.skippedBatches).toBe(1)
    const skip = tracker.events.find((e) => e.kind === 'skip')!
    expect(skip.step).toBe(3)
    expect(skip.message).toMatch(/non-finite loss/)
    expect(Number.isFinite(result.trainLoss)).toBe(true)
    expect(tf.memory().numTensors).toBe(before)

    const always = options(makeContext(dir, new MemoryTracker('nan2', dir), new AbortController().signal), model, { max_steps: 20, max_bad_in_row: 4 })
    always.task = { ...lm, replica: undefined, loss: (b) => ({ loss: tf.mul(lm.loss(b).loss, NaN) }) }
    await expect(trainLoop(always)).rejects.toThrow(/training stopped at step 4, stopping: 4 bad batches in a row \(last: non-finite loss/)
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
  })

  it('labels every checkpoint with the eval loss of its own weights, also when checkpoint_every is not a multiple of eval_every', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const tracker = new MemoryTracker('label', dir)
    const model = Llama.create(MODEL, 5)
    await trainLoop(options(makeContext(dir, tracker, new AbortController().signal), model, { max_steps: 12, eval_every: 4, checkpoint_every: 6, sample_count: 0, threads: 1 }))
    model.dispose()
    const evalLoss = series(tracker, 'eval/loss')
    const checkpoints = tracker.artifacts.filter((a) => a.kind === 'checkpoint')
    expect(checkpoints.map((a) => a.step)).toEqual([6, 12])
    for (const a of checkpoints) expect(a.meta!.eval_loss, `checkpoint at step ${a.step}`).toBe(evalLoss.get(a.step!))
    expect([...evalLoss.keys()]).toEqual([4, 6, 8, 12])
  })

  it('refuses to resume on changed training data, naming the file, and resumes on the same data touched', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const dataDir = path.join(dir, 'data')
    fs.mkdirSync(dataDir)
    const corpus = path.join(dataDir, 'corpus.txt')
    fs.writeFileSync(corpus, TEXT)
    fs.writeFileSync(path.join(dataDir, 'more.txt'), 'more text')
    const abort = new AbortController()
    const m1 = Llama.create(MODEL, 3)
    const first = options(makeContext(dir, new MemoryTracker('data', dir), abort.signal, (step) => step === 3 && abort.abort()), m1, { sample_count: 0, threads: 1 })
    const part = await trainLoop({ ...first, dataPaths: [dataDir] })
    m1.dispose()
    expect(part.step).toBe(3)

    const resume = async () => {
      const m = Llama.create(MODEL, 4)
      try {
        const opts = options(makeContext(dir, new MemoryTracker('data', dir), new AbortController().signal, undefined, part.checkpointDir), m, { sample_count: 0, threads: 1 })
        return await trainLoop({ ...opts, dataPaths: [dataDir] })
      } finally {
        m.dispose()
      }
    }
    fs.writeFileSync(corpus, TEXT.replace('cat', 'cow')) // same size, other bytes
    await expect(resume()).rejects.toThrow(/cannot resume from .*step-0000003: the training data changed since that checkpoint \(.*corpus\.txt changed content\)/)
    fs.writeFileSync(corpus, TEXT)
    fs.appendFileSync(path.join(dataDir, 'more.txt'), '!')
    await expect(resume()).rejects.toThrow(/more\.txt changed size \(9 -> 10 bytes\)/)
    // The same bytes again, with new modification times (as after a copy or a touch): the same data.
    fs.writeFileSync(path.join(dataDir, 'more.txt'), 'more text')
    expect((await resume()).step).toBe(12)
  })

  it('trains a reward model (trunk + score head, pairwise loss) as a stage would plug it in: metrics, heads in checkpoints, exact resume', async () => {
    /** Pairs where the chosen answer repeats one token and the rejected one is random: learnable. */
    class PairStream implements BatchStream<PairBatch> {
      private index = 0
      next(): PairBatch {
        const pairs = randomPairs(4, 16, 300, mulberry32(1000 + this.index++))
        pairs.chosen.fill(7)
        return pairs
      }
      cursor(): unknown {
        return { index: this.index }
      }
      restore(cursor: unknown): void {
        this.index = (cursor as { index: number }).index
      }
    }
    const run = async (dir: string, tracker: MemoryTracker, modelSeed: number, signal: AbortSignal, onStep?: (s: number) => void, resumeFrom?: string) => {
      const model = Llama.create(MODEL, modelSeed)
      const head = ScalarHead.create('reward', MODEL.dim, modelSeed)
      const task = pairwiseRewardTask(model, head)
      const evalPairs = [new PairStream(), new PairStream()].map((s, i) => (s.restore({ index: 500 + i }), s.next()))
      const config = resolveConfig(
        trainingFields({ lr: 3e-3, warmup_steps: 2, max_steps: 12, batch_size: 4, eval_every: 6, sample_every: 0, checkpoint_every: 6 }),
        { log_every: 1, sample_count: 3, threads: 1 },
      )
      try {
        const result = await trainLoop<PairBatch>({
          ctx: makeContext(dir, tracker, signal, onStep, resumeFrom),
          model,
          heads: { 'score.weight': head.weight },
          tokenizer,
          settings: trainingSettings(config),
          task,
          train: new PairStream(),
          evaluate: async () => {
            const r = await evaluateTask(evalPairs, task)
            return { loss: r.loss, ...r.metrics }
          },
          stage: 'reward',
          runConfig: config,
        })
        return { result, head: Array.from(head.weight.dataSync()) }
      } finally {
        model.dispose()
        head.dispose()
      }
    }
    const straightDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const straight = new MemoryTracker('rm', straightDir)
    const whole = await run(straightDir, straight, 2, new AbortController().signal)
    const loss = series(straight, 'train/loss')
    expect(loss.get(12)!).toBeLessThan(loss.get(1)!)
    expect(series(straight, 'train/accuracy').size).toBe(12)
    expect(series(straight, 'train/pairs_per_s').size).toBe(12)
    expect(series(straight, 'train/pairs_seen').get(12)).toBe(12 * 4)
    expect([...series(straight, 'eval/accuracy').keys()]).toEqual([6, 12])
    expect(straight.samples).toHaveLength(0) // no sample prompts: no generation
    const saved = loadCheckpoint(whole.result.checkpointDir!)
    expect(Array.from(saved.heads['score.weight'].dataSync())).toEqual(whole.head)
    saved.dispose()

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-loop-'))
    const abort = new AbortController()
    const first = new MemoryTracker('rm2', dir)
    const part = await run(dir, first, 2, abort.signal, (step) => step === 4 && abort.abort())
    const second = new MemoryTracker('rm2', dir)
    // Another seed for trunk and head: everything must come from the checkpoint.
    const rest = await run(dir, second, 9, new AbortController().signal, undefined, part.result.checkpointDir)
    const resumed = new Map([...series(first, 'train/loss'), ...series(second, 'train/loss')])
    for (const [step, value] of loss) expect(resumed.get(step)!, `train/loss at step ${step}`).toBeCloseTo(value, 5)
    rest.head.forEach((w, i) => expect(w).toBeCloseTo(whole.head[i], 5))
  })
})
