// The one supervised training loop, shared by pretraining, SFT and (later) reward models. The
// stages differ only in where batches come from and which loss they minimise; everything else
// (AdamW, warmup + cosine schedule, clipping, gradient accumulation, the bad-batch guard,
// evaluation, samples, checkpoints, resume) lives here once.
//
// Per optimiser step:
//   1. take grad_accum micro-batches from the source (malformed ones are skipped and recorded),
//   2. in ONE tf.tidy: sum the gradients of the micro-batches, read loss and gradient norm,
//      ask the spike guard, and (when the batch is good) clip and apply AdamW,
//   3. every log_every / eval_every / sample_every / checkpoint_every steps: metrics, validation,
//      generations, a checkpoint (keep last K + best by eval loss).
// Resuming restores weights, optimiser moments, step, data cursor, guard state and the metric
// accumulators, so the resumed curve continues exactly as if the run had never stopped.
import fs from 'node:fs'
import path from 'node:path'
import { tf } from '../backend/tf'
import type { StageContext } from './stages/types'
import type { TrainingSettings } from './stages/common'
import { checkBatch, type Batch, type BatchStream, type BatchTensors } from './batches'
import { evaluatePerplexity, type PerplexityResult } from '../eval/perplexity'
import { AdamW, clipByGlobalNorm } from './adamw'
import { GradientWorkers } from './parallel/gradientWorkers'
import { disposeStep, stepGradients } from './parallel/dataParallel'
import { trainingThreads } from './parallel/threads'
import { lrAt, type ScheduleOptions } from './schedule'
import { SpikeGuard, type SpikeGuardState } from './spikeGuard'
import { saveCheckpoint, loadCheckpoint } from '../model/checkpoint'
import { generate } from '../model/generate'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'
import { decodeContinuation } from '../tokenizer/stream'

export interface LoopOptions {
  ctx: StageContext
  model: Llama
  tokenizer: Tokenizer
  settings: TrainingSettings
  train: BatchStream
  /** Fixed validation batches (the same every evaluation). Empty = no evaluation. */
  evalBatches: Batch[]
  /** Mean loss of a batch; defaults to the language-model loss with the batch's mask. */
  lossOf?: (model: Llama, t: BatchTensors) => tf.Scalar
  /** Token ids of prompts to sample from every sample_every steps (e.g. chat-formatted prompts). */
  samplePrompts: number[][]
  /** Stored with every checkpoint (workbench.json). */
  stage: string
  runConfig: Record<string, unknown>
}

export interface LoopResult {
  stopped: boolean
  step: number
  tokensSeen: number
  /** Mean train loss of the last logged interval. */
  trainLoss: number
  lastEval?: PerplexityResult
  bestEvalLoss?: number
  checkpointDir?: string
  bestCheckpointDir?: string
  tokensPerSec: number
  skippedBatches: number
}

/** Everything besides weights and optimiser moments needed to continue a run exactly. */
export interface TrainerState {
  step: number
  tokensSeen: number
  /** Micro-batches taken from the source so far (the index named in skip events). */
  batchIndex: number
  cursor: unknown
  guard: SpikeGuardState | null
  skippedBatches: number
  /** Accumulated since the last metrics log: [sum of loss, sum of grad norm, good steps]. */
  logAccum: [number, number, number]
  bestEvalLoss: number | null
  bestCheckpoint: string | null
  /** Checkpoint folders kept on disk, oldest first (absolute). */
  checkpoints: string[]
}

const CHECKPOINTS_FOLDER = 'checkpoints'

/** Runs the loop until max_steps, the end of the data, or ctx.signal aborts. */
export async function trainLoop(opts: LoopOptions): Promise<LoopResult> {
  const { model, settings: s } = opts
  // In a tidy so the zero tensors the moments start from are freed (the variables keep their data).
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(model.weights, { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay })
  })
  let pool: GradientWorkers | null = null
  try {
    pool = await startGradientWorkers(opts)
    return await runSteps(opts, optimizer, pool)
  } finally {
    optimizer.dispose()
    await pool?.close()
  }
}

/**
 * Threads beyond the first train as gradient workers (data parallelism, see parallel/). Only for
 * the language-model loss, which the workers know; a stage with its own loss trains on one thread.
 */
async function startGradientWorkers(opts: LoopOptions): Promise<GradientWorkers | null> {
  const { ctx, settings: s } = opts
  const threads = opts.lossOf ? 1 : trainingThreads(s.threads, ctx.backend.name, s.batchSize)
  ctx.tracker.logParams({ threads })
  if (threads <= 1) return null
  const started = performance.now()
  const pool = await GradientWorkers.start(opts.model.config, opts.model.weights, ctx.backend.name, threads - 1)
  ctx.log(`training on ${threads} threads (each holds a model replica; started in ${((performance.now() - started) / 1000).toFixed(1)} s)`)
  return pool
}

/** The loop proper; `optimizer` and `pool` are owned (and disposed) by trainLoop. */
async function runSteps(opts: LoopOptions, optimizer: AdamW, pool: GradientWorkers | null): Promise<LoopResult> {
  const { ctx, model, settings: s } = opts
  const lossOf = opts.lossOf ?? ((m: Llama, t: BatchTensors) => m.loss(t.tokens, t.targets, t.mask))
  const lossOfModel = (t: BatchTensors) => lossOf(model, t)
  const guard = new SpikeGuard({ zScore: s.spikeZScore, maxConsecutive: s.maxBadInRow })
  let state = freshState(opts.train)
  if (ctx.resumeFrom) state = resumeFrom(ctx.resumeFrom, opts, optimizer, guard)

  const schedule = scheduleFor(s, ctx)
  let lastEval: PerplexityResult | undefined
  let trainLoss = NaN
  let lastCheckpoint: string | undefined
  const speed = new SpeedMeter()

  while (state.step < s.maxSteps) {
    if (ctx.signal.aborted) {
      lastCheckpoint = checkpoint(opts, optimizer, guard, state, lastEval)
      ctx.log(`stopped at step ${state.step}; checkpoint ${lastCheckpoint}`)
      return result(true)
    }
    speed.start()
    const micro = takeMicroBatches(opts, state)
    if (micro.length === 0) {
      ctx.log(`the training data ran out at step ${state.step}`)
      break
    }
    const step = state.step + 1
    // lrAt counts updates from 0; our steps count from 1.
    const lr = lrAt(step - 1, schedule)
    const outcome = await trainStep(micro, lr, lossOfModel, optimizer, guard, s, pool)
    state.step = step
    state.tokensSeen += micro.reduce((n, b) => n + b.batchSize * b.seqLen, 0)
    state.cursor = opts.train.cursor()
    state.guard = guard.getState()
    speed.add(micro.reduce((n, b) => n + b.batchSize * b.seqLen, 0))
    recordOutcome(ctx, state, outcome, step)

    if (step % s.logEvery === 0 || step === s.maxSteps) {
      trainLoss = logTrainMetrics(ctx, state, step, lr, speed.tokensPerSec())
    }
    ctx.progress({
      step,
      totalSteps: s.maxSteps,
      loss: Number.isFinite(outcome.loss) ? outcome.loss : undefined,
      tokensPerSec: speed.tokensPerSec(),
      etaSeconds: speed.secondsPerStep() * (s.maxSteps - step),
    })
    const last = step === s.maxSteps
    if (opts.evalBatches.length > 0 && (last || (s.evalEvery > 0 && step % s.evalEvery === 0))) {
      lastEval = evaluate(opts, lossOfModel, step)
    }
    if (s.sampleCount > 0 && (last || (s.sampleEvery > 0 && step % s.sampleEvery === 0))) {
      await logSamples(opts, step)
    }
    if (!last && s.checkpointEvery > 0 && step % s.checkpointEvery === 0) {
      lastCheckpoint = checkpoint(opts, optimizer, guard, state, lastEval)
    }
    // Let the event loop run so SIGTERM handlers (the AbortSignal) and stdout writes get through.
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (opts.evalBatches.length > 0 && lastEval === undefined) lastEval = evaluate(opts, lossOfModel, state.step)
  lastCheckpoint = checkpoint(opts, optimizer, guard, state, lastEval)
  return result(false)

  function result(stopped: boolean): LoopResult {
    return {
      stopped,
      step: state.step,
      tokensSeen: state.tokensSeen,
      trainLoss,
      lastEval,
      bestEvalLoss: state.bestEvalLoss ?? undefined,
      checkpointDir: lastCheckpoint,
      bestCheckpointDir: state.bestCheckpoint ?? lastCheckpoint,
      tokensPerSec: speed.tokensPerSec(),
      skippedBatches: state.skippedBatches,
    }
  }
}

/**
 * Warmup then cosine decay over max_steps. A warmup longer than the run (a short test run with
 * the default warmup) would never decay, so it shrinks to a tenth of the run, and says so.
 */
function scheduleFor(s: TrainingSettings, ctx: StageContext): ScheduleOptions {
  let warmupSteps = s.warmupSteps
  if (warmupSteps > s.maxSteps) {
    warmupSteps = Math.floor(s.maxSteps / 10)
    ctx.log(`warmup_steps ${s.warmupSteps} is longer than max_steps ${s.maxSteps}: warming up for ${warmupSteps} steps instead`)
  }
  return { peak: s.lr, warmupSteps, totalSteps: s.maxSteps, minRatio: s.minLrRatio }
}

function freshState(train: BatchStream): TrainerState {
  return {
    step: 0,
    tokensSeen: 0,
    batchIndex: 0,
    cursor: train.cursor(),
    guard: null,
    skippedBatches: 0,
    logAccum: [0, 0, 0],
    bestEvalLoss: null,
    bestCheckpoint: null,
    checkpoints: [],
  }
}

/** Loads weights, optimiser moments and trainer state from a checkpoint of this same run. */
function resumeFrom(dir: string, opts: LoopOptions, optimizer: AdamW, guard: SpikeGuard): TrainerState {
  const loaded = loadCheckpoint(dir)
  try {
    if (!loaded.trainerState) throw new Error(`checkpoint ${dir} has no trainer_state.json, so it cannot be resumed`)
    if (!loaded.optimizer) throw new Error(`checkpoint ${dir} has no optimizer state, so it cannot be resumed`)
    for (const [name, variable] of Object.entries(opts.model.weights)) {
      const saved = loaded.tensors[name]
      if (!saved) throw new Error(`checkpoint ${dir} lacks weight ${name}`)
      if (saved.shape.join(',') !== variable.shape.join(',')) {
        throw new Error(`checkpoint ${dir}: ${name} has shape [${saved.shape}], the model has [${variable.shape}]`)
      }
      variable.assign(saved)
    }
    optimizer.setState(loaded.optimizer)
  } finally {
    loaded.dispose()
  }
  const state = loaded.trainerState as unknown as TrainerState
  opts.train.restore(state.cursor)
  if (state.guard !== null) guard.setState(state.guard)
  opts.ctx.log(`resumed from ${dir} at step ${state.step}`)
  return state
}

/** Takes grad_accum batches; malformed ones are skipped with an event naming the batch index. */
function takeMicroBatches(opts: LoopOptions, state: TrainerState): Batch[] {
  const micro: Batch[] = []
  let malformedInRow = 0
  while (micro.length < opts.settings.gradAccum) {
    const batch = opts.train.next()
    if (batch === null) break
    const index = state.batchIndex++
    const problem = checkBatch(batch)
    if (problem === null) {
      micro.push(batch)
      malformedInRow = 0
      continue
    }
    state.skippedBatches++
    opts.ctx.tracker.logEvent('skip', `batch ${index} skipped: ${problem}`, { batch: index, reason: problem }, state.step + 1)
    if (++malformedInRow >= opts.settings.maxBadInRow) {
      throw new Error(`training stopped: ${malformedInRow} unusable batches in a row (last, batch ${index}: ${problem})`)
    }
  }
  return micro
}

interface StepOutcome {
  loss: number
  gradNorm: number
  applied: boolean
  reason?: string
  /** Set by the guard when too many batches in a row were bad. */
  stopReason?: string
}

/**
 * One optimiser step: the mean gradient of the micro-batches (so the update equals that of one big
 * batch; split across threads when there is a pool), then the guard's verdict, then clipping and
 * AdamW. Loss and gradient norm are read here because the guard must decide before the update.
 */
async function trainStep(
  micro: Batch[],
  lr: number,
  lossOf: (t: BatchTensors) => tf.Scalar,
  optimizer: AdamW,
  guard: SpikeGuard,
  s: TrainingSettings,
  pool: GradientWorkers | null,
): Promise<StepOutcome> {
  const step = await stepGradients(micro, lossOf, pool)
  try {
    return tf.tidy(() => {
      const { grads: clipped, norm } = clipByGlobalNorm(step.grads, s.gradClip > 0 ? s.gradClip : Infinity)
      const [loss, gradNorm] = tf.stack([step.loss, norm]).dataSync() as Float32Array
      const verdict = guard.check(loss, gradNorm)
      if (verdict.skip) return { loss, gradNorm, applied: false, reason: verdict.reason, stopReason: verdict.stopReason }
      optimizer.applyGradients(clipped, lr)
      return { loss, gradNorm, applied: true }
    })
  } finally {
    disposeStep(step)
  }
}

/** Counts good and skipped steps; too many skips in a row stops the run with the reason. */
function recordOutcome(ctx: StageContext, state: TrainerState, outcome: StepOutcome, step: number): void {
  if (outcome.applied) {
    state.logAccum[0] += outcome.loss
    state.logAccum[1] += outcome.gradNorm
    state.logAccum[2] += 1
    return
  }
  state.skippedBatches++
  const first = state.batchIndex - 1
  ctx.tracker.logEvent(
    'skip',
    `step ${step} skipped: ${outcome.reason} (loss ${outcome.loss}, grad norm ${outcome.gradNorm})`,
    { batch: first, loss: outcome.loss, grad_norm: outcome.gradNorm, reason: outcome.reason },
    step,
  )
  if (outcome.stopReason) {
    throw new Error(`training stopped at step ${step}, ${outcome.stopReason}; lower lr or check the data`)
  }
}

/** Logs the interval's mean train loss and grad norm plus lr, speed, tokens and memory. */
function logTrainMetrics(ctx: StageContext, state: TrainerState, step: number, lr: number, tokensPerSec: number): number {
  const [lossSum, normSum, count] = state.logAccum
  const loss = count > 0 ? lossSum / count : NaN
  ctx.tracker.logMetrics(step, {
    'train/loss': loss,
    'train/grad_norm': count > 0 ? normSum / count : NaN,
    'train/lr': lr,
    'train/tokens_per_s': tokensPerSec,
    'train/tokens_seen': state.tokensSeen,
    'sys/memory': Math.round(process.memoryUsage().rss / (1024 * 1024)),
  })
  state.logAccum = [0, 0, 0]
  return loss
}

function evaluate(opts: LoopOptions, lossOf: (t: BatchTensors) => tf.Scalar, step: number): PerplexityResult {
  const evalResult = evaluatePerplexity(opts.evalBatches, lossOf)
  opts.ctx.tracker.logMetrics(step, { 'eval/loss': evalResult.loss, 'eval/perplexity': evalResult.perplexity })
  opts.ctx.log(`step ${step}: eval loss ${evalResult.loss.toFixed(4)}, perplexity ${evalResult.perplexity.toFixed(2)}`)
  return evalResult
}

/** A few generations, seeded by (seed, step) so a resumed run samples the same text. */
async function logSamples(opts: LoopOptions, step: number): Promise<void> {
  const { settings: s, tokenizer, model } = opts
  const prompts = opts.samplePrompts.slice(0, s.sampleCount)
  for (const [i, ids] of prompts.entries()) {
    const room = model.config.max_seq_len - ids.length
    if (room <= 0) continue
    const out = await generate(model, ids, {
      maxNewTokens: Math.min(s.sampleTokens, room),
      temperature: 0.8,
      topK: 40,
      seed: s.seed * 100_003 + step * 31 + i,
      stopIds: [tokenizer.special.eos, tokenizer.special.end_of_turn],
    })
    opts.ctx.tracker.logSample({ step, prompt: tokenizer.decode(ids), response: decodeContinuation(tokenizer, ids, out.ids) })
  }
}

/**
 * Saves a checkpoint of the current step and keeps the last K plus the best by eval loss; older
 * ones are removed through the tracker (which deletes their files and artifact rows).
 */
function checkpoint(
  opts: LoopOptions,
  optimizer: AdamW,
  guard: SpikeGuard,
  state: TrainerState,
  lastEval: PerplexityResult | undefined,
): string {
  const { ctx } = opts
  const dir = path.join(ctx.runDir, CHECKPOINTS_FOLDER, `step-${String(state.step).padStart(7, '0')}`)
  state.guard = guard.getState()
  const evalLoss = lastEval?.loss
  const isBest = evalLoss !== undefined && (state.bestEvalLoss === null || evalLoss < state.bestEvalLoss)
  if (isBest) {
    state.bestEvalLoss = evalLoss
    state.bestCheckpoint = dir
  }
  if (!state.checkpoints.includes(dir)) state.checkpoints.push(dir)
  const removable = prune(state, opts.settings.keepLast)
  ctx.tracker.flush()
  saveCheckpoint(dir, {
    config: opts.model.config,
    weights: opts.model.weights,
    tokenizer: opts.tokenizer,
    optimizer: optimizer.getState(),
    trainerState: state,
    runConfig: opts.runConfig,
    stage: opts.stage,
    runId: ctx.runId,
  })
  ctx.tracker.logArtifact({
    kind: 'checkpoint',
    path: dir,
    step: state.step,
    meta: { eval_loss: evalLoss ?? null, best: isBest },
  })
  // Delete old checkpoints only after the new one is safely on disk.
  for (const old of removable) {
    if (fs.existsSync(old)) ctx.tracker.removeArtifact(old)
  }
  ctx.tracker.flush()
  return dir
}

/** Drops the oldest checkpoints beyond keepLast, except the best; returns the folders to delete. */
function prune(state: TrainerState, keepLast: number): string[] {
  const recent = state.checkpoints.slice(-keepLast)
  const keep = new Set([...recent, ...(state.bestCheckpoint ? [state.bestCheckpoint] : [])])
  const removable = state.checkpoints.filter((c) => !keep.has(c))
  state.checkpoints = state.checkpoints.filter((c) => keep.has(c))
  return removable
}

/**
 * Training speed over the last 20 steps. tokens/s counts only the time spent getting batches and
 * training (so an evaluation or a checkpoint does not show up as a slow step); the ETA uses wall
 * time per step, which includes them, because that is what the user waits for.
 */
class SpeedMeter {
  private readonly steps: { tokens: number; trainSeconds: number; end: number }[] = []
  private lastEnd = performance.now()
  private stepStart = performance.now()

  /** Call when a step starts (before taking its batches). */
  start(): void {
    this.stepStart = performance.now()
  }

  /** Call when the step's update is done. */
  add(tokens: number): void {
    const now = performance.now()
    this.steps.push({ tokens, trainSeconds: (now - this.stepStart) / 1000, end: now })
    if (this.steps.length > 20) this.lastEnd = this.steps.shift()!.end
  }

  tokensPerSec(): number {
    const seconds = this.steps.reduce((n, w) => n + w.trainSeconds, 0)
    const tokens = this.steps.reduce((n, w) => n + w.tokens, 0)
    return seconds > 0 ? tokens / seconds : 0
  }

  secondsPerStep(): number {
    if (this.steps.length === 0) return 0
    return (this.steps[this.steps.length - 1].end - this.lastEnd) / 1000 / this.steps.length
  }
}
