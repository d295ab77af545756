// Config fields shared by the supervised stages (pretrain, SFT, later reward models): the
// optimiser, the schedule, the bad-batch guard and how often to log, evaluate, sample and
// checkpoint. Each stage extends this zod object with its own data and model fields and picks its
// own defaults.
import fs from 'node:fs'
import type { StageContext } from './types'
import { z } from 'zod'

/** See the thread_mode field and parallel/threads.ts. */
export type ThreadMode = 'kernel' | 'workers'

/** What a stage may override in the shared fields: its own defaults. */
export interface TrainingDefaults {
  lr: number
  warmup_steps: number
  /** Undefined: the stage derives it (e.g. SFT from epochs) unless the user sets it. */
  max_steps?: number
  batch_size: number
  eval_every: number
  sample_every: number
  checkpoint_every: number
}

const int = (min: number) => z.number().int().min(min)
const float = (min: number, max?: number) => (max === undefined ? z.number().min(min) : z.number().min(min).max(max))

/** The config every supervised stage has, with the stage's defaults filled in (a strict zod object to extend). */
export function trainingFields(d: TrainingDefaults) {
  const maxSteps = int(1)
  return z
    .object({
      seed: int(0).default(0).meta({ group: 'run', help: 'Seeds initialisation, data order and sampling. The same seed repeats a run only with the same backend, thread count and native matmul (built or not): both are recorded with the run (params threads, native_matmul).' }),
      threads: int(0).default(0).meta({
        group: 'run',
        help: 'Threads that share each step on the wasm and cpu backends (0 = one per CPU core).',
      }),
      thread_mode: z.enum(['kernel', 'workers']).default('kernel').meta({
        group: 'run',
        help: 'How threads share a step: kernel = threads inside the native matmul, one model in memory; workers = a model replica per thread, each on a share of the batch (data parallel). Without the native addon threads are always workers.',
      }),
      max_steps: (d.max_steps === undefined ? maxSteps.optional() : maxSteps.default(d.max_steps)).meta({
        group: 'schedule',
        help: 'Optimiser steps to train for (one step = batch_size x grad_accum sequences).' + (d.max_steps === undefined ? ' Default: from epochs.' : ''),
      }),
      batch_size: int(1).default(d.batch_size).meta({ group: 'schedule', help: 'Sequences per micro-batch.' }),
      grad_accum: int(1).default(1).meta({ group: 'schedule', help: 'Micro-batches whose gradients are summed before one optimiser step.' }),
      lr: float(0).default(d.lr).meta({ group: 'optimiser', help: 'Peak learning rate, reached after warmup.' }),
      min_lr_ratio: float(0, 1).default(0.1).meta({ group: 'optimiser', help: 'Cosine decay ends at this fraction of the peak (Llama 2: 0.1).' }),
      warmup_steps: int(0).default(d.warmup_steps).meta({ group: 'optimiser', help: 'Linear warmup steps before the cosine decay.' }),
      weight_decay: float(0).default(0.1).meta({ group: 'optimiser', help: 'AdamW weight decay, applied to matrices only (not norms).' }),
      beta1: float(0, 1).default(0.9).meta({ group: 'optimiser', help: 'AdamW beta1.' }),
      beta2: float(0, 1).default(0.95).meta({ group: 'optimiser', help: 'AdamW beta2 (Llama 2: 0.95).' }),
      adam_eps: float(0).default(1e-5).meta({ group: 'optimiser', help: 'AdamW epsilon (Llama 2: 1e-5).' }),
      grad_clip: float(0).default(1.0).meta({ group: 'optimiser', help: 'Clip gradients to this global norm (0 = no clipping).' }),
      spike_zscore: float(0.1).default(5).meta({ group: 'stability', help: 'A loss this many standard deviations above its running mean is a spike: the update is skipped.' }),
      max_bad_in_row: int(1).default(10).meta({ group: 'stability', help: 'Stop the run when this many batches in a row are skipped (spike, non-finite, or unusable).' }),
      log_every: int(1).default(10).meta({ group: 'logging', help: 'Log train metrics every N steps.' }),
      eval_every: int(0).default(d.eval_every).meta({ group: 'logging', help: 'Validation loss and perplexity every N steps (0 = only at the end).' }),
      eval_batches: int(1).default(8).meta({ group: 'logging', help: 'Validation batches per evaluation (fixed, so evaluations compare).' }),
      sample_every: int(0).default(d.sample_every).meta({ group: 'logging', help: 'Store a few generations every N steps (0 = only at the end).' }),
      sample_count: int(0).default(3).meta({ group: 'logging', help: 'Generations per sampling.' }),
      sample_tokens: int(1).default(48).meta({ group: 'logging', help: 'New tokens per generated sample.' }),
      checkpoint_every: int(0).default(d.checkpoint_every).meta({ group: 'checkpoints', help: 'Save a checkpoint every N steps (0 = only at the end).' }),
      keep_last: int(1).default(2).meta({ group: 'checkpoints', help: 'Keep the last K checkpoints (plus the best by eval loss).' }),
    })
    .strict()
}

/** The shared training config as the stage receives it (validated, defaults filled). */
export type TrainingConfig = z.output<ReturnType<typeof trainingFields>>

/** The shared training settings as typed values, read from a resolved config. */
export interface TrainingSettings {
  seed: number
  /** 0 = one per core (see parallel/threads.ts). */
  threads: number
  /** Threads inside the native kernels (one model copy), or gradient workers (a replica each). Default kernel. */
  threadMode?: ThreadMode
  maxSteps: number
  batchSize: number
  gradAccum: number
  lr: number
  minLrRatio: number
  warmupSteps: number
  weightDecay: number
  beta1: number
  beta2: number
  adamEps: number
  gradClip: number
  spikeZScore: number
  maxBadInRow: number
  logEvery: number
  evalEvery: number
  evalBatches: number
  sampleEvery: number
  sampleCount: number
  sampleTokens: number
  checkpointEvery: number
  keepLast: number
}

/** `maxSteps` overrides config.max_steps (stages that derive it, e.g. from epochs). */
export function trainingSettings(config: TrainingConfig, maxSteps?: number): TrainingSettings {
  const steps = maxSteps ?? config.max_steps
  if (steps === undefined || !Number.isInteger(steps) || steps < 1) throw new Error(`max_steps must be a positive integer, got ${steps}`)
  return {
    seed: config.seed,
    threads: config.threads,
    threadMode: config.thread_mode,
    maxSteps: steps,
    batchSize: config.batch_size,
    gradAccum: config.grad_accum,
    lr: config.lr,
    minLrRatio: config.min_lr_ratio,
    warmupSteps: config.warmup_steps,
    weightDecay: config.weight_decay,
    beta1: config.beta1,
    beta2: config.beta2,
    adamEps: config.adam_eps,
    gradClip: config.grad_clip,
    spikeZScore: config.spike_zscore,
    maxBadInRow: config.max_bad_in_row,
    logEvery: config.log_every,
    evalEvery: config.eval_every,
    evalBatches: config.eval_batches,
    sampleEvery: config.sample_every,
    sampleCount: config.sample_count,
    sampleTokens: config.sample_tokens,
    checkpointEvery: config.checkpoint_every,
    keepLast: config.keep_last,
  }
}

// ---------------------------------------------------------------------------------------------
// Starting from a checkpoint (SFT's base, continued pretraining): load it with core/model/load.ts

/** The checkpoint folder a stage starts from: a parent with this role, else the config value (a folder). */
export function parentCheckpoint(ctx: StageContext, role: string, configValue: unknown, key: string): string | undefined {
  const parent = ctx.parents.find((p) => p.role === role)
  if (parent?.checkpointDir) return parent.checkpointDir
  if (parent?.runId) throw new Error(`${key}: parent run ${parent.runId} has no checkpoint`)
  if (typeof configValue !== 'string' || configValue === '') return undefined
  if (fs.existsSync(configValue) && fs.statSync(configValue).isDirectory()) return configValue
  throw new Error(`${key} "${configValue}" is not a checkpoint folder here (a run id is resolved when the run is submitted)`)
}
