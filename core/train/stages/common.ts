// Config fields shared by the supervised stages (pretrain, SFT, later reward models): the
// optimiser, the schedule, the bad-batch guard and how often to log, evaluate, sample and
// checkpoint. Each stage adds its own data and model fields and picks its own defaults.
import fs from 'node:fs'
import type { StageContext } from './types'
import type { ConfigField } from '../../config/schema'

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

/** The fields every supervised stage has, with the stage's defaults filled in. */
export function trainingFields(d: TrainingDefaults): ConfigField[] {
  return [
    { key: 'seed', type: 'int', default: 0, min: 0, group: 'run', help: 'Seeds initialisation, data order and sampling. The same seed repeats a run only with the same backend, thread count and native matmul (built or not): both are recorded with the run (params threads, native_matmul).' },
    {
      key: 'threads',
      type: 'int',
      default: 0,
      min: 0,
      group: 'run',
      help: 'Threads that share each batch on the wasm and cpu backends (0 = one per CPU core). Each extra thread holds a copy of the model.',
    },
    {
      key: 'max_steps',
      type: 'int',
      default: d.max_steps,
      optional: d.max_steps === undefined,
      min: 1,
      group: 'schedule',
      help: 'Optimiser steps to train for (one step = batch_size x grad_accum sequences).' + (d.max_steps === undefined ? ' Default: from epochs.' : ''),
    },
    { key: 'batch_size', type: 'int', default: d.batch_size, min: 1, group: 'schedule', help: 'Sequences per micro-batch.' },
    { key: 'grad_accum', type: 'int', default: 1, min: 1, group: 'schedule', help: 'Micro-batches whose gradients are summed before one optimiser step.' },
    { key: 'lr', type: 'float', default: d.lr, min: 0, group: 'optimiser', help: 'Peak learning rate, reached after warmup.' },
    { key: 'min_lr_ratio', type: 'float', default: 0.1, min: 0, max: 1, group: 'optimiser', help: 'Cosine decay ends at this fraction of the peak (Llama 2: 0.1).' },
    { key: 'warmup_steps', type: 'int', default: d.warmup_steps, min: 0, group: 'optimiser', help: 'Linear warmup steps before the cosine decay.' },
    { key: 'weight_decay', type: 'float', default: 0.1, min: 0, group: 'optimiser', help: 'AdamW weight decay, applied to matrices only (not norms).' },
    { key: 'beta1', type: 'float', default: 0.9, min: 0, max: 1, group: 'optimiser', help: 'AdamW beta1.' },
    { key: 'beta2', type: 'float', default: 0.95, min: 0, max: 1, group: 'optimiser', help: 'AdamW beta2 (Llama 2: 0.95).' },
    { key: 'adam_eps', type: 'float', default: 1e-5, min: 0, group: 'optimiser', help: 'AdamW epsilon (Llama 2: 1e-5).' },
    { key: 'grad_clip', type: 'float', default: 1.0, min: 0, group: 'optimiser', help: 'Clip gradients to this global norm (0 = no clipping).' },
    { key: 'spike_zscore', type: 'float', default: 5, min: 0.1, group: 'stability', help: 'A loss this many standard deviations above its running mean is a spike: the update is skipped.' },
    { key: 'max_bad_in_row', type: 'int', default: 10, min: 1, group: 'stability', help: 'Stop the run when this many batches in a row are skipped (spike, non-finite, or unusable).' },
    { key: 'log_every', type: 'int', default: 10, min: 1, group: 'logging', help: 'Log train metrics every N steps.' },
    { key: 'eval_every', type: 'int', default: d.eval_every, min: 0, group: 'logging', help: 'Validation loss and perplexity every N steps (0 = only at the end).' },
    { key: 'eval_batches', type: 'int', default: 8, min: 1, group: 'logging', help: 'Validation batches per evaluation (fixed, so evaluations compare).' },
    { key: 'sample_every', type: 'int', default: d.sample_every, min: 0, group: 'logging', help: 'Store a few generations every N steps (0 = only at the end).' },
    { key: 'sample_count', type: 'int', default: 3, min: 0, group: 'logging', help: 'Generations per sampling.' },
    { key: 'sample_tokens', type: 'int', default: 48, min: 1, group: 'logging', help: 'New tokens per generated sample.' },
    { key: 'checkpoint_every', type: 'int', default: d.checkpoint_every, min: 0, group: 'checkpoints', help: 'Save a checkpoint every N steps (0 = only at the end).' },
    { key: 'keep_last', type: 'int', default: 2, min: 1, group: 'checkpoints', help: 'Keep the last K checkpoints (plus the best by eval loss).' },
  ]
}

/** The shared training settings as typed values, read from a resolved config. */
export interface TrainingSettings {
  seed: number
  /** 0 = one per core (see parallel/threads.ts). */
  threads: number
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
export function trainingSettings(config: Record<string, unknown>, maxSteps?: number): TrainingSettings {
  const n = (key: string): number => config[key] as number
  const steps = maxSteps ?? n('max_steps')
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`max_steps must be a positive integer, got ${steps}`)
  return {
    seed: n('seed'),
    threads: n('threads'),
    maxSteps: steps,
    batchSize: n('batch_size'),
    gradAccum: n('grad_accum'),
    lr: n('lr'),
    minLrRatio: n('min_lr_ratio'),
    warmupSteps: n('warmup_steps'),
    weightDecay: n('weight_decay'),
    beta1: n('beta1'),
    beta2: n('beta2'),
    adamEps: n('adam_eps'),
    gradClip: n('grad_clip'),
    spikeZScore: n('spike_zscore'),
    maxBadInRow: n('max_bad_in_row'),
    logEvery: n('log_every'),
    evalEvery: n('eval_every'),
    evalBatches: n('eval_batches'),
    sampleEvery: n('sample_every'),
    sampleCount: n('sample_count'),
    sampleTokens: n('sample_tokens'),
    checkpointEvery: n('checkpoint_every'),
    keepLast: n('keep_last'),
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
