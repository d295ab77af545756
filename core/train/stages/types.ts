// The stage contract. A stage is one file exporting a StageDefinition; the registry lists them.
// The CLI, the job worker and the app all go through the registry, so a new stage (reward model,
// rejection sampling, PPO, distillation, safety eval ...) plugs in by adding one file and one line.

import type { z } from 'zod'
import { fieldsOf, type ConfigField, type ConfigSchema } from '../../config/schema'
import type { Tracker } from '../../tracking/types'
import type { LlamaConfig } from '../../model/config'

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

/** A run this stage starts from, named by a config key (a run id or a checkpoint folder). */
export interface StageParent {
  /** The parent's role in the run's lineage, e.g. 'base' for SFT, 'continue' for continued pretraining. */
  role: string
  /** The config key that names it, e.g. 'base'. It must be a string property with path 'model'. */
  key: string
  /** The run cannot start without it: checked before the run is created; the app asks for it. */
  required?: boolean
}

/** How a stage appears on the command line: `workbench <command> [flags] [--set key=value ...]`. */
export interface StageCli<C> {
  /** The words after `workbench`, e.g. 'pretrain' or 'tokenizer train'. */
  command: string
  /** One line for `workbench --help`, e.g. '--data <file|folder>   pretrain a small Llama'. */
  summary: string
  /** The first lines of `workbench <command> --help`. */
  usage: string
  /**
   * The command's own flags and the config key each sets, e.g. { data: 'data', from: 'init_from' }.
   * The text becomes a value by the key's field: lists repeat the flag, numbers are decimal,
   * input paths must exist and become absolute, run ids stay as they are.
   */
  flags?: Record<string, keyof C & string>
  /** The config key that the one positional argument sets (`workbench prefs import FILE`), read like a flag. */
  positional?: keyof C & string
  /** Printed once the run has been queued (e.g. where the checkpoints go). */
  notes?: string
}

/** What an estimate knows about the checkpoint a stage starts from. */
export interface EstimateFrom {
  model: LlamaConfig
}

/** Size and training memory of the model a config describes (float32). */
export interface StageEstimate {
  params: number
  /** The parameters that train: all of them, or a LoRA run's adapters. */
  trainedParams: number
  /** The model's weights (+ adapters). */
  weightsBytes: number
  /** One gradient per trained parameter. */
  gradientBytes: number
  /** AdamW keeps two moments per trained parameter. */
  optimizerBytes: number
  activationBytes: number
  /** Node, tfjs and the wasm module before any tensor. */
  runtimeBytes: number
  /** The extra threads' share (gradient workers' model copies, kernel threads' buffers). */
  threadsBytes: number
  /** Everything a training step holds at once; compared with the machine's memory before a run. */
  totalBytes: number
  notes: string[]
}

/**
 * The stage contract. Write one file exporting `defineStage({...})` and add it to STAGES in
 * registry.ts; the CLI command, the app's form, its size preview and the API all come from here.
 */
export interface StageDefinition<S extends ConfigSchema = ConfigSchema> {
  /** 'pretrain' | 'sft' | 'tokenizer' | 'gold_eval' | later 'reward' | 'rejection_sampling' | 'ppo' ... */
  name: string
  title: string
  description: string
  /**
   * The config: a strict zod object whose properties carry .meta({ help, group, path }); rules
   * between fields (e.g. dim divisible by n_heads) go in its superRefine. See core/config/schema.ts.
   */
  schema: S
  /** Derived from `schema` by defineStage: drives `--set` parsing, `--help` and the app's form. */
  fields: ConfigField[]
  /** Named partial configs, e.g. { tiny: {...}, small: {...} }. */
  presets?: Record<string, Partial<z.input<S>>>
  /** The runs this stage starts from, each named by a config key. */
  parents?: StageParent[]
  /** Absent: the stage has no command of its own (it is still available to the app and the API). */
  cli?: StageCli<z.input<S>>
  /**
   * The model's size and training memory for this config (core/train/memoryEstimate.ts). A stage
   * that starts from a checkpoint gets `from.model`, the config of the checkpoint picked for its
   * first required parent, and returns undefined without it. The app's form shows it; a config
   * whose estimate exceeds the machine's memory is refused before a run is created. Called with
   * the form's partial configs too, so it reads only the fields it needs. Throws on a config that
   * describes no valid model.
   */
  estimate?(config: z.output<S>, from?: EstimateFrom): StageEstimate | undefined
  /**
   * Cheap checks of what the run will read (files exist, are readable, non-empty, their format is
   * detected, their first records parse), run before the run is created. Throws with a message
   * naming the file and line.
   */
  precheck?(config: z.output<S>): void
  /** Runs the stage. `config` is the resolved config: validated, defaults filled. */
  run(ctx: StageContext, config: z.output<S>): Promise<StageResult>
}

/** A stage definition without its derived fields, as a stage file writes it. */
export type StageSpec<S extends ConfigSchema> = Omit<StageDefinition<S>, 'fields'>

/** Checks a stage's declarations and derives its field list. */
export function defineStage<S extends ConfigSchema>(spec: StageSpec<S>): StageDefinition<S> {
  const fields = fieldsOf(spec.schema)
  for (const parent of spec.parents ?? []) {
    const field = fields.find((f) => f.key === parent.key)
    if (field?.pathKind !== 'model') throw new Error(`stage ${spec.name}: parent "${parent.role}" names key "${parent.key}", which is not a model reference (path: 'model')`)
  }
  for (const [flag, key] of Object.entries(spec.cli?.flags ?? {})) {
    if (!fields.some((f) => f.key === key)) throw new Error(`stage ${spec.name}: flag --${flag} sets unknown key "${key}"`)
  }
  const positional = spec.cli?.positional
  if (positional !== undefined && !fields.some((f) => f.key === positional)) throw new Error(`stage ${spec.name}: the positional argument sets unknown key "${positional}"`)
  return { ...spec, fields }
}
