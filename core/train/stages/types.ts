// The stage contract. A stage is one file exporting a StageDefinition; the registry lists them.
// The CLI, the job worker and the app all go through the registry, so a new stage (reward model,
// rejection sampling, PPO, distillation, safety eval ...) plugs in by adding one file and one line.

import type { ConfigField } from '../../config/schema'
import type { Tracker } from '../../tracking/types'

export interface BackendInfo {
  /** 'tensorflow' (tfjs-node / node-gpu) | 'wasm' | 'cpu' */
  name: string
  /** The package that provided it, e.g. '@tensorflow/tfjs-node-gpu' */
  package: string
  version: string
  /** Human-readable device, e.g. 'CPU (wasm SIMD)' or 'CUDA GPU' */
  device: string
}

/** A run (or a checkpoint folder) that this run starts from. */
export interface ParentRef {
  /** Present when the parent is a recorded run. */
  runId?: string
  /** Absolute path of the checkpoint folder to start from. */
  checkpointDir?: string
  /** 'base' | 'reference' | 'reward_helpful' | 'reward_safety' | 'continue' ... */
  role: string
}

export interface Progress {
  step: number
  totalSteps: number
  /** Latest training loss, for the progress bar. */
  loss?: number
  tokensPerSec?: number
  etaSeconds?: number
  message?: string
}

export interface StageContext {
  runId: string
  tracker: Tracker
  /** Aborted on cancel: the stage checkpoints and returns with `stopped: true`. */
  signal: AbortSignal
  /** Absolute folder for this run's artifacts (checkpoints, caches, reports). */
  runDir: string
  /** Absolute workbench home (database + artifacts). */
  home: string
  parents: ParentRef[]
  /** Set when continuing this same run after a stop or crash: its latest checkpoint. */
  resumeFrom?: string
  seed: number
  backend: BackendInfo
  /** One human line (shown in the CLI and the app's log). */
  log(message: string): void
  /** Throttled by the caller; stages may call it every step. */
  progress(p: Progress): void
}

export interface StageResult {
  /** Final figures shown in summaries and the CLI's final JSON object. */
  summary: Record<string, number | string | boolean>
  /** Best or final checkpoint, when the stage produces a model. */
  checkpointDir?: string
  /** True when the stage ended early because ctx.signal was aborted. */
  stopped?: boolean
}

export interface StageDefinition {
  /** 'pretrain' | 'sft' | 'tokenizer' | 'eval' | later 'reward' | 'rejection_sampling' | 'ppo' ... */
  name: string
  title: string
  description: string
  /** Drives validation, `--set` parsing and the app's form. */
  fields: ConfigField[]
  /** Named partial configs, e.g. { tiny: {...}, small: {...} }. */
  presets?: Record<string, Record<string, unknown>>
  /** Parent roles this stage needs, e.g. ['base'] for SFT; [] for pretraining from scratch. */
  parentRoles?: string[]
  run(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult>
}
