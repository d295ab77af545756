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
import { trainingFields, trainingSettings } from '../../core/train/stages/common'
import { resolveConfig } from '../../core/config/schema'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'

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
  return {
    ctx,
    model,
    tokenizer,
    settings: trainingSettings(config),
    train: new WindowSource(16, 4),
    evalBatches: [evalSource.next(), evalSource.next()],
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
    expect([...evalLoss.keys()]).toEqual([20, 40])
    expect(series(tracker, 'eval/perplexity').get(40)).toBeCloseTo(Math.exp(evalLoss.get(40)!), 4)
    for (const key of ['train/lr', 'train/grad_norm', 'train/tokens_per_s', 'train/tokens_seen', 'sys/memory']) {
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
    opts.lossOf = (m, t) => {
      const loss = m.loss(t.tokens, t.targets, t.mask)
      return ++calls === 3 ? tf.mul(loss, NaN) : loss
    }
    const result = await trainLoop(opts)
    expect(result.skippedBatches).toBe(1)
    const skip = tracker.events.find((e) => e.kind === 'skip')!
    expect(skip.step).toBe(3)
    expect(skip.message).toMatch(/non-finite loss/)
    expect(Number.isFinite(result.trainLoss)).toBe(true)
    expect(tf.memory().numTensors).toBe(before)

    const always = options(makeContext(dir, new MemoryTracker('nan2', dir), new AbortController().signal), model, { max_steps: 20, max_bad_in_row: 4 })
    always.lossOf = (m, t) => tf.mul(m.loss(t.tokens, t.targets, t.mask), NaN)
    await expect(trainLoop(always)).rejects.toThrow(/training stopped at step 4, stopping: 4 bad batches in a row \(last: non-finite loss/)
    expect(tf.memory().numTensors).toBe(before)
    model.dispose()
  })
})
