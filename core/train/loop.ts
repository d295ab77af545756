// The one training loop, shared by every stage that trains weights by gradient descent:
// pretraining and SFT (the language-model task), and later reward models, rejection-sampling
// fine-tuning, distillation, GAtt. As TRL has one trainer per method on a shared base, a stage
// supplies the pieces that differ (see LoopOptions): the trainable parameters, the batches, the
// loss (a TrainTask, task.ts), the evaluation, optional sample prompts, and the extra tensors its
// checkpoints carry (heads). Everything else lives here once: AdamW, warmup + cosine schedule,
// clipping, gradient accumulation, threads (inside the native matmul, or data-parallel gradient workers), the bad-batch guard, metrics,
// checkpoints (keep last K + best by eval loss) and resume.
//
// Per optimiser step:
//   1. take grad_accum micro-batches from the source (malformed ones are skipped and recorded),
//   2. the gradient of the step's loss, micro-batches weighted by their trained units (on this
//      thread, or split across gradient workers when the task names a replica), then in ONE
//      tf.tidy: read loss and gradient norm, ask the spike guard, and (when good) clip and apply AdamW,
//   3. every log_every / eval_every / sample_every / checkpoint_every steps: metrics, validation,
//      generations, a checkpoint. A checkpoint's eval loss is always that of its own weights
//      (evaluated then if the step had no evaluation); a checkpoint saved on stop has none.
// Resuming restores weights and heads, optimiser moments, step, data cursor, guard state and the
// metric accumulators, so the resumed curve continues exactly as if the run had never stopped; it
// refuses when the training data changed since the checkpoint.
import fs from 'node:fs'
import path from 'node:path'
import { tf } from '../backend/tf'
import type { StageContext } from './stages/types'
import type { TrainingSettings } from './stages/common'
import type { Batch, BatchStream } from './batches'
import { batchProblem, type RowBatch, type TrainTask } from './task'
import { AdamW, clipCoefficient } from './adamw'
import { GradientWorkers } from './parallel/gradientWorkers'
import { disposeStep, stepGradients } from './parallel/dataParallel'
import { threadPlan } from './parallel/threads'
import { nativeMatMulActive, setNativeMatMulThreads } from '../backend/kernels/nativeMatMul'
import { lrAt, type ScheduleOptions } from './schedule'
import { SpikeGuard, type SpikeGuardState } from './spikeGuard'
import { dataChange, fingerprintData, type DataFileStamp } from './dataFingerprint'
import { saveCheckpoint, loadCheckpoint } from '../model/checkpoint'
import { generate } from '../model/generate'
import type { Llama } from '../model/llama'
import type { HfModelKind } from '../model/hf'
import type { Tokenizer } from '../tokenizer'
import { decodeContinuation } from '../tokenizer/stream'

export interface LoopOptions<B extends RowBatch = Batch> {
  ctx: StageContext
  /** The trunk: saved in every checkpoint (config.json + model.safetensors), restored on resume. */
  model: Llama
  /** Extra tensors saved beside the trunk in model.safetensors and restored on resume (score.weight, value_head.weight). */
  heads?: Record<string, tf.Variable>
  /** What AdamW trains, by name (a subset is fine: a head only, adapters). Default: model.weights and heads. */
  params?: Record<string, tf.Variable>
  tokenizer: Tokenizer
  settings: TrainingSettings
  /** The loss; with task.replica, micro-batches are split across gradient worker threads. */
  task: TrainTask<B>
  train: BatchStream<B>
  /**
   * Named metrics of the current weights, logged as eval/<name> every eval_every steps and with
   * every checkpoint; `loss` (lower is better) picks the best checkpoint. Absent: no evaluation.
   */
  evaluate?: () => Promise<Record<string, number>>
  /** Token ids of prompts to generate from every sample_every steps (absent or empty: no samples). */
  samplePrompts?: number[][]
  /** The training data's files or folders: fingerprinted, so a resume on changed data is refused. */
  dataPaths?: string[]
  /** Stored with every checkpoint (workbench.json). */
  stage: string
  /** 'reward': checkpoints are saved as LlamaForSequenceClassification (the trunk + score.weight, no lm_head). Default 'lm'. */
  checkpointKind?: HfModelKind
  /**
   * LoRA: the base model folder of `model.adapters`. With it, the trunk is frozen (AdamW trains the
   * adapters and heads unless `params` says otherwise) and checkpoints are PEFT adapter folders
   * over this base (core/model/peft.ts).
   */
  adapterBase?: string
  runConfig: Record<string, unknown>
}

export interface LoopResult {
  stopped: boolean
  step: number
  /** Processed units (tokens for a language model) over the run. */
  unitsSeen: number
  /** Mean train loss of the last logged interval. */
  trainLoss: number
  /** The last evaluation's metrics (loss, perplexity, ...). */
  lastEval?: Record<string, number>
  bestEvalLoss?: number
  checkpointDir?: string
  bestCheckpointDir?: string
  /** Processed units per second of training time (tokens/s for a language model). */
  unitsPerSec: number
  skippedBatches: number
}

/** Everything besides weights and optimiser moments needed to continue a run exactly. */
export interface TrainerState {
  step: number
  /** Processed units so far (named so for checkpoints written when the units were always tokens). */
  tokensSeen: number
  /** Micro-batches taken from the source so far (the index named in skip events). */
  batchIndex: number
  cursor: unknown
  guard: SpikeGuardState | null
  skippedBatches: number
  /** Accumulated since the last metrics log: [sum of loss, sum of grad norm, good steps]. */
  logAccum: [number, number, number]
  /** The task's metrics summed over the same good steps. */
  metricAccum?: Record<string, number>
  bestEvalLoss: number | null
  bestCheckpoint: string | null
  /** Checkpoint folders kept on disk, oldest first (absolute). */
  checkpoints: string[]
  /** The training data's files as they were at the start (absent when the stage names none). */
  data?: DataFileStamp[]
}

/** The latest evaluation and the step whose weights it measured. */
interface EvalRecord {
  step: number
  metrics: Record<string, number>
}

const CHECKPOINTS_FOLDER = 'checkpoints'

/** Runs the loop until max_steps, the end of the data, or ctx.signal aborts. */
export async function trainLoop<B extends RowBatch = Batch>(opts: LoopOptions<B>): Promise<LoopResult> {
  const { settings: s } = opts
  const params = trainableParams(opts)
  // In a tidy so the zero tensors the moments start from are freed (the variables keep their data).
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(params, { beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay })
  })
  let pool: GradientWorkers | null = null
  try {
    pool = await startGradientWorkers(opts, params)
    return await runSteps(opts, params, optimizer, pool)
  } finally {
    optimizer.dispose()
    await pool?.close()
  }
}

function trainableParams<B extends RowBatch>(opts: LoopOptions<B>): Record<string, tf.Variable> {
  return opts.params ?? savedTensors(opts)
}

/** The adapters a LoRA run trains and saves, or null for a full fine-tuning. */
function loraOf<B extends RowBatch>(opts: LoopOptions<B>) {
  return opts.adapterBase !== undefined && opts.model.adapters ? opts.model.adapters : null
}

/** Every tensor a checkpoint holds in model.safetensors: the trunk and the heads (LoRA: the adapters and the heads). */
function savedTensors<B extends RowBatch>(opts: LoopOptions<B>): Record<string, tf.Variable> {
  const lora = loraOf(opts)
  return lora ? { ...lora.variables(), ...opts.heads } : { ...opts.model.weights, ...opts.heads }
}

/** Runs a training step with LoRA dropout on (it is off for evaluation and samples). */
async function withAdapterDropout<B extends RowBatch, T>(opts: LoopOptions<B>, step: () => Promise<T>): Promise<T> {
  const lora = loraOf(opts)
  if (!lora) return step()
  lora.training = true
  try {
    return await step()
  } finally {
    lora.training = false
  }
}

/**
 * Spreads the run over its threads (parallel/threads.ts): inside the native matmul (one model),
 * or as gradient workers, each with a replica of the task. LoRA runs cannot use workers (replicas
 * build the trunk alone, without adapters) but can use kernel threads.
 */
async function startGradientWorkers<B extends RowBatch>(opts: LoopOptions<B>, params: Record<string, tf.Variable>): Promise<GradientWorkers | null> {
  const { ctx, settings: s } = opts
  const replica = loraOf(opts) ? undefined : opts.task.replica
  const plan = threadPlan(s.threads, s.threadMode ?? 'kernel', ctx.backend.name, s.batchSize, nativeMatMulActive(), replica !== undefined)
  setNativeMatMulThreads(plan.kernelThreads)
  ctx.tracker.logParams({ threads: plan.threads, thread_mode: plan.mode })
  if (plan.mode === 'kernel') {
    if (plan.threads > 1) ctx.log(`training on ${plan.threads} threads inside the native matmul (one model in memory)`)
    return null
  }
  if (loraOf(opts) && s.threads !== 1) ctx.log('LoRA trains on one thread without the native matmul (gradient workers do not build adapters)')
  if (!replica || plan.workers === 0) return null
  const started = performance.now()
  const pool = await GradientWorkers.start(replica, params, ctx.backend.name, plan.workers)
  ctx.log(`training on ${plan.threads} threads (gradient workers, each holds a model replica; started in ${((performance.now() - started) / 1000).toFixed(1)} s)`)
  return pool
}

/** The loop proper; `optimizer` and `pool` are owned (and disposed) by trainLoop. */
async function runSteps<B extends RowBatch>(
  opts: LoopOptions<B>,
  params: Record<string, tf.Variable>,
  optimizer: AdamW,
  pool: GradientWorkers | null,
): Promise<LoopResult> {
  const { ctx, settings: s, task } = opts
  const guard = new SpikeGuard({ zScore: s.spikeZScore, maxConsecutive: s.maxBadInRow })
  const state = ctx.resumeFrom ? resumeFrom(ctx.resumeFrom, opts, optimizer, guard) : freshState(opts)
  const processed = (micro: B[]) => micro.reduce((n, b) => n + (task.processed ?? task.units)(b), 0)

  const schedule = scheduleFor(s, ctx)
  let lastEval: EvalRecord | undefined
  let trainLoss = NaN
  let lastCheckpoint: string | undefined
  const speed = new SpeedMeter()
  const evaluateAt = async (step: number) => {
    lastEval = await evaluate(opts, step)
  }

  while (state.step < s.maxSteps) {
    if (ctx.signal.aborted) {
      // Saved at once, without an evaluation: this checkpoint carries no eval loss.
      lastCheckpoint = await checkpoint(opts, optimizer, guard, state, lastEval)
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
    const outcome = await withAdapterDropout(opts, () => trainStep(micro, lr, task, params, optimizer, guard, s, pool))
    state.step = step
    state.tokensSeen += processed(micro)
    state.cursor = opts.train.cursor()
    state.guard = guard.getState()
    speed.add(processed(micro))
    recordOutcome(ctx, state, outcome, step)

    if (step % s.logEvery === 0 || step === s.maxSteps) {
      trainLoss = logTrainMetrics(ctx, state, step, lr, speed.unitsPerSec(), task.unit ?? 'tokens')
    }
    ctx.progress({
      step,
      totalSteps: s.maxSteps,
      loss: Number.isFinite(outcome.loss) ? outcome.loss : undefined,
      tokensPerSec: speed.unitsPerSec(),
      etaSeconds: speed.secondsPerStep() * (s.maxSteps - step),
    })
    const last = step === s.maxSteps
    if (opts.evaluate && (last || (s.evalEvery > 0 && step % s.evalEvery === 0))) await evaluateAt(step)
    if (s.sampleCount > 0 && (last || (s.sampleEvery > 0 && step % s.sampleEvery === 0))) {
      await logSamples(opts, step)
    }
    if (!last && s.checkpointEvery > 0 && step % s.checkpointEvery === 0) {
      if (opts.evaluate && lastEval?.step !== step) await evaluateAt(step)
      lastCheckpoint = await checkpoint(opts, optimizer, guard, state, lastEval)
    }
    // Let the event loop run so SIGTERM handlers (the AbortSignal) and stdout writes get through.
    await new Promise((resolve) => setImmediate(resolve))
  }
  if (opts.evaluate && lastEval?.step !== state.step) await evaluateAt(state.step)
  lastCheckpoint = await checkpoint(opts, optimizer, guard, state, lastEval)
  return result(false)

  function result(stopped: boolean): LoopResult {
    return {
      stopped,
      step: state.step,
      unitsSeen: state.tokensSeen,
      trainLoss,
      lastEval: lastEval?.metrics,
      bestEvalLoss: state.bestEvalLoss ?? undefined,
      checkpointDir: lastCheckpoint,
      bestCheckpointDir: state.bestCheckpoint ?? lastCheckpoint,
      unitsPerSec: speed.unitsPerSec(),
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

function freshState<B extends RowBatch>(opts: LoopOptions<B>): TrainerState {
  return {
    step: 0,
    tokensSeen: 0,
    batchIndex: 0,
    cursor: opts.train.cursor(),
    guard: null,
    skippedBatches: 0,
    logAccum: [0, 0, 0],
    metricAccum: {},
    bestEvalLoss: null,
    bestCheckpoint: null,
    checkpoints: [],
    data: opts.dataPaths ? fingerprintData(opts.dataPaths) : undefined,
  }
}

/** Loads weights, heads, optimiser moments and trainer state from a checkpoint of this same run. */
function resumeFrom<B extends RowBatch>(dir: string, opts: LoopOptions<B>, optimizer: AdamW, guard: SpikeGuard): TrainerState {
  const loaded = loadCheckpoint(dir)
  let state: TrainerState
  try {
    if (!loaded.trainerState) throw new Error(`checkpoint ${dir} has no trainer_state.json, so it cannot be resumed`)
    if (!loaded.optimizer) throw new Error(`checkpoint ${dir} has no optimizer state, so it cannot be resumed`)
    state = loaded.trainerState as unknown as TrainerState
    checkSameData(dir, state, opts.dataPaths)
    for (const [name, variable] of Object.entries(savedTensors(opts))) {
      const saved = loaded.tensors[name] ?? loaded.heads[name] ?? loaded.adapter?.tensors[name]
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
  state.metricAccum ??= {}
  opts.train.restore(state.cursor)
  if (state.guard !== null) guard.setState(state.guard)
  opts.ctx.log(`resumed from ${dir} at step ${state.step}`)
  return state
}

/** The data cursor means "batch k of epoch e" of these files: on other data it would mean other batches. */
function checkSameData(dir: string, state: TrainerState, dataPaths: string[] | undefined): void {
  if (!state.data || !dataPaths) return
  const change = dataChange(state.data, dataPaths)
  if (change !== null) {
    throw new Error(
      `cannot resume from ${dir}: the training data changed since that checkpoint (${change}). ` +
        'Restore the data, or start a new run on the new data.',
    )
  }
}

/** Takes grad_accum batches; malformed ones are skipped with an event naming the batch index. */
function takeMicroBatches<B extends RowBatch>(opts: LoopOptions<B>, state: TrainerState): B[] {
  const micro: B[] = []
  let malformedInRow = 0
  while (micro.length < opts.settings.gradAccum) {
    const batch = opts.train.next()
    if (batch === null) break
    const index = state.batchIndex++
    const problem = batchProblem(opts.task, batch)
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
  /** The task's metrics for this step (weighted means over its units). */
  metrics: Record<string, number>
  applied: boolean
  reason?: string
  /** Set by the guard when too many batches in a row were bad. */
  stopReason?: string
}

/**
 * One optimiser step: the gradient of the step's loss (micro-batches weighted by trained units,
 * so the update equals that of one big batch; split across threads when there is a pool), then
 * the guard's verdict, then clipping and AdamW. Loss, metrics and gradient norm are read in one
 * asynchronous read (a GPU backend has no synchronous one) because the guard must decide before
 * the update.
 */
async function trainStep<B extends RowBatch>(
  micro: B[],
  lr: number,
  task: TrainTask<B>,
  params: Record<string, tf.Variable>,
  optimizer: AdamW,
  guard: SpikeGuard,
  s: TrainingSettings,
  pool: GradientWorkers | null,
): Promise<StepOutcome> {
  const step = await stepGradients(micro, task, params, pool)
  const names = Object.keys(step.metrics)
  // The clip coefficient goes to AdamW as a gradient scale: no scaled copy of every gradient.
  const { scale, readout } = tf.tidy(() => {
    const { scale, norm } = clipCoefficient(step.grads, s.gradClip > 0 ? s.gradClip : Infinity)
    return { scale, readout: tf.stack([step.loss, norm, ...names.map((k) => step.metrics[k])]) } // readout: [2 + M]
  })
  try {
    const [loss, gradNorm, ...values] = (await readout.data()) as Float32Array
    const metrics = Object.fromEntries(names.map((k, i) => [k, values[i]]))
    const verdict = guard.check(loss, gradNorm)
    if (verdict.skip) return { loss, gradNorm, metrics, applied: false, reason: verdict.reason, stopReason: verdict.stopReason }
    tf.tidy(() => optimizer.applyGradients(step.grads, lr, scale))
    return { loss, gradNorm, metrics, applied: true }
  } finally {
    tf.dispose([readout, scale])
    disposeStep(step)
  }
}

/** Counts good and skipped steps; too many skips in a row stops the run with the reason. */
function recordOutcome(ctx: StageContext, state: TrainerState, outcome: StepOutcome, step: number): void {
  if (outcome.applied) {
    state.logAccum[0] += outcome.loss
    state.logAccum[1] += outcome.gradNorm
    state.logAccum[2] += 1
    const sums = (state.metricAccum ??= {})
    for (const [k, v] of Object.entries(outcome.metrics)) sums[k] = (sums[k] ?? 0) + v
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

/** Logs the interval's mean train loss, grad norm and task metrics plus lr, speed, units seen and memory. */
function logTrainMetrics(ctx: StageContext, state: TrainerState, step: number, lr: number, unitsPerSec: number, unit: string): number {
  const [lossSum, normSum, count] = state.logAccum
  const loss = count > 0 ? lossSum / count : NaN
  const taskMetrics = Object.fromEntries(Object.entries(state.metricAccum ?? {}).map(([k, v]) => [`train/${k}`, count > 0 ? v / count : NaN]))
  ctx.tracker.logMetrics(step, {
    'train/loss': loss,
    'train/grad_norm': count > 0 ? normSum / count : NaN,
    ...taskMetrics,
    'train/lr': lr,
    [`train/${unit}_per_s`]: unitsPerSec,
    [`train/${unit}_seen`]: state.tokensSeen,
    // The same key and unit (MB) as the job worker's system sampler (core/jobs/systemMetrics.ts).
    'system/rss_mb': process.memoryUsage.rss() / (1024 * 1024),
  })
  state.logAccum = [0, 0, 0]
  state.metricAccum = {}
  return loss
}

async function evaluate<B extends RowBatch>(opts: LoopOptions<B>, step: number): Promise<EvalRecord> {
  const metrics = await opts.evaluate!()
  opts.ctx.tracker.logMetrics(step, Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`eval/${k}`, v])))
  const shown = Object.entries(metrics).map(([k, v]) => `${k} ${Math.abs(v) >= 10 ? v.toFixed(2) : v.toFixed(4)}`)
  opts.ctx.log(`step ${step}: eval ${shown.join(', ')}`)
  return { step, metrics }
}

/** A few generations, seeded by (seed, step) so a resumed run samples the same text. */
async function logSamples<B extends RowBatch>(opts: LoopOptions<B>, step: number): Promise<void> {
  const { settings: s, tokenizer, model } = opts
  const prompts = (opts.samplePrompts ?? []).slice(0, s.sampleCount)
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
 * ones are removed through the tracker (which deletes their files and artifact rows). `evalRecord`
 * labels the checkpoint only when it measured these very weights (same step).
 */
async function checkpoint<B extends RowBatch>(
  opts: LoopOptions<B>,
  optimizer: AdamW,
  guard: SpikeGuard,
  state: TrainerState,
  evalRecord: EvalRecord | undefined,
): Promise<string> {
  const { ctx } = opts
  const dir = path.join(ctx.runDir, CHECKPOINTS_FOLDER, `step-${String(state.step).padStart(7, '0')}`)
  state.guard = guard.getState()
  const evalLoss = evalRecord?.step === state.step ? evalRecord.metrics.loss : undefined
  const isBest = evalLoss !== undefined && Number.isFinite(evalLoss) && (state.bestEvalLoss === null || evalLoss < state.bestEvalLoss)
  if (isBest) {
    state.bestEvalLoss = evalLoss
    state.bestCheckpoint = dir
  }
  if (!state.checkpoints.includes(dir)) state.checkpoints.push(dir)
  const removable = prune(state, opts.settings.keepLast)
  ctx.tracker.flush()
  await saveCheckpoint(dir, {
    config: opts.model.config,
    weights: savedTensors(opts),
    tokenizer: opts.tokenizer,
    optimizer: optimizer.getState(),
    trainerState: state,
    runConfig: opts.runConfig,
    stage: opts.stage,
    runId: ctx.runId,
    kind: opts.checkpointKind,
    ...(loraOf(opts) ? { adapter: { settings: loraOf(opts)!.settings, baseDir: opts.adapterBase! } } : {}),
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
 * Training speed over the last 20 steps. Units/s (tokens/s for a language model) counts only the
 * time spent getting batches and training (so an evaluation or a checkpoint does not show up as a slow step); the ETA uses wall
 * time per step, which includes them, because that is what the user waits for.
 */
class SpeedMeter {
  private readonly steps: { units: number; trainSeconds: number; end: number }[] = []
  private lastEnd = performance.now()
  private stepStart = performance.now()

  /** Call when a step starts (before taking its batches). */
  start(): void {
    this.stepStart = performance.now()
  }

  /** Call when the step's update is done. */
  add(units: number): void {
    const now = performance.now()
    this.steps.push({ units, trainSeconds: (now - this.stepStart) / 1000, end: now })
    if (this.steps.length > 20) this.lastEnd = this.steps.shift()!.end
  }

  unitsPerSec(): number {
    const seconds = this.steps.reduce((n, w) => n + w.trainSeconds, 0)
    const units = this.steps.reduce((n, w) => n + w.units, 0)
    return seconds > 0 ? units / seconds : 0
  }

  secondsPerStep(): number {
    if (this.steps.length === 0) return 0
    return (this.steps[this.steps.length - 1].end - this.lastEnd) / 1000 / this.steps.length
  }
}
