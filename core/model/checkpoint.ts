// Checkpoint folders. A checkpoint is a Hugging Face model folder plus the workbench's extras:
//
//   config.json              transformers LlamaConfig (LlamaForCausalLM)
//   model.safetensors        float32 weights under the LlamaForCausalLM names (+ scalar heads)
//   tokenizer.json           (+ tokenizer_config.json with the chat template, generation_config.json;
//                            hfExport.ts) when a tokenizer is given
//   optimizer.safetensors    AdamW moments: "m/<weight name>", "v/<weight name>"; step in metadata
//   trainer_state.json       whatever the training loop needs to resume (step, data cursor, rng,
//                            spike-guard state, schedule position ...)
//   workbench.json           format version, the exact model config, the run's config, step, time
//
// A LoRA run's checkpoint is an adapter folder in PEFT's layout instead (core/model/peft.ts):
// adapter_config.json (naming the base model folder) + adapter_model.safetensors (the adapters and
// any head) in place of config.json + model.safetensors; the other files are the same. Loading one
// loads the base folder it names and returns the adapters beside it (`adapter`).
//
// Atomicity: everything is written into a hidden sibling folder ".<name>.partial-<pid>-<rand>",
// flushed to disk, then renamed into place. Replacing an existing checkpoint renames the old one
// aside to ".<name>.old-...", renames the new one in, then deletes the old one. A crash at any
// point leaves either the old or the new checkpoint complete, never half of one; the leftovers
// are cleaned (or the old folder put back) the next time that checkpoint is saved or loaded.

import fs from 'node:fs'
import path from 'node:path'
import { writingFile } from '../util/files'
import { randomBytes } from 'node:crypto'
import { tf } from '../backend/tf'
import type { LlamaConfig } from './config'
import type { AdamWState } from '../train/adamw'
import { checkWeightShapes, llamaConfigToHf, readHfFolder, type HfConfigJson, type HfModelKind, type SpecialTokenIds } from './hf'
import { hfGenerationConfig, hfTokenizerConfig, type AddedTokenJson } from './hfExport'
import { readSafetensors, writeSafetensors, type RawTensor } from './safetensors'
import type { LoraSettings } from './lora'
import { ADAPTER_FILES, fromPeftNames, isAdapterDir, peftAdapterConfig, readAdapterConfig, toPeftNames, type PeftTaskType } from './peft'

export const CHECKPOINT_FORMAT = 'workbench-checkpoint'
export const CHECKPOINT_VERSION = 1

export const FILES = {
  config: 'config.json',
  model: 'model.safetensors',
  tokenizer: 'tokenizer.json',
  tokenizerConfig: 'tokenizer_config.json',
  generationConfig: 'generation_config.json',
  optimizer: 'optimizer.safetensors',
  trainerState: 'trainer_state.json',
  workbench: 'workbench.json',
} as const

/** What a saved workbench.json holds. */
export interface WorkbenchMeta {
  format: typeof CHECKPOINT_FORMAT
  version: number
  step: number
  /** ISO time the checkpoint was written. */
  created: string
  /** The exact model config (config.json cannot hold multiple_of). */
  model: LlamaConfig
  /** The run's resolved stage config, as recorded. */
  config?: Record<string, unknown>
  stage?: string
  runId?: string
  files: string[]
}

/**
 * The resume state the training loop writes. Only `step` is required here; the loop defines the
 * rest (data cursor, rng, spike-guard state ...) and casts to its own type on load. JSON only,
 * finite numbers.
 */
export interface TrainerState {
  step: number
}

/** The part of a Tokenizer a checkpoint needs (core/tokenizer's Tokenizer fits). */
export interface CheckpointTokenizer {
  save(filePath: string): void
  special?: { bos?: number; eos?: number; pad?: number; unk?: number }
}

export interface SaveCheckpointInput {
  config: LlamaConfig
  /** Llama weights by LlamaForCausalLM name (e.g. model.weights), plus any score.* / value_head.* heads. */
  weights: Record<string, tf.Tensor>
  tokenizer?: CheckpointTokenizer
  /** Copy this tokenizer.json instead (e.g. from the parent checkpoint) when no tokenizer object is at hand. */
  tokenizerFile?: string
  optimizer?: AdamWState
  trainerState?: TrainerState
  /** Defaults to trainerState.step, then optimizer.step, then 0. */
  step?: number
  /** The run's resolved config, kept in workbench.json. */
  runConfig?: Record<string, unknown>
  stage?: string
  runId?: string
  /** Written into config.json when no tokenizer gives them. */
  specialTokenIds?: SpecialTokenIds
  /** 'reward': saved as LlamaForSequenceClassification (needs score.weight). Default 'lm'. */
  kind?: HfModelKind
  /**
   * A LoRA checkpoint: `weights` are the adapters (`...q_proj.lora_A.weight`) and heads, saved in
   * PEFT's layout over the base model folder `baseDir` (see the file comment).
   */
  adapter?: { settings: LoraSettings; baseDir: string }
}

/** The adapters of a LoRA checkpoint, under workbench names (`model.layers.0.self_attn.q_proj.lora_A.weight`). */
export interface LoadedAdapter {
  settings: LoraSettings
  baseDir: string
  taskType: PeftTaskType
  tensors: Record<string, tf.Tensor>
}

export interface LoadedCheckpoint {
  /** 'reward' for a LlamaForSequenceClassification folder (no lm_head of its own; config is tied). */
  kind: HfModelKind
  config: LlamaConfig
  /** Exactly the tensors Llama.fromWeights(config, tensors) expects (float32). */
  tensors: Record<string, tf.Tensor>
  /** Scalar-head tensors (score.*, value_head.*) found beside the trunk; empty for a plain LM. */
  heads: Record<string, tf.Tensor>
  hfConfig: HfConfigJson
  tokenizerPath?: string
  optimizer?: AdamWState
  trainerState?: TrainerState
  /** Absent for a plain Hugging Face folder. */
  workbench?: WorkbenchMeta
  /** A LoRA adapter folder: `config` and `tensors` are its base model's, the adapters are here. */
  adapter?: LoadedAdapter
  specialTokenIds: SpecialTokenIds
  warnings: string[]
  /** Disposes every tensor this load created (after Llama.fromWeights has copied them). */
  dispose(): void
}

// ---------------------------------------------------------------------------------------------
// Save

/**
 * Writes a complete checkpoint folder at `dir` atomically (replacing one that is there) and returns
 * its absolute path. The tensors are read first and asynchronously (a GPU backend has no synchronous
 * read), so the caller must await this before it changes the weights again.
 */
export async function saveCheckpoint(dir: string, input: SaveCheckpointInput): Promise<string> {
  const target = path.resolve(dir)
  if (!input.adapter) checkWeightShapes(input.config, shapesOf(input.weights), `saveCheckpoint(${target})`)
  if (input.kind === 'reward' && !input.weights['score.weight']) throw new Error(`saveCheckpoint(${target}): a reward model needs its score.weight`)
  const step = input.step ?? input.trainerState?.step ?? input.optimizer?.step ?? 0
  if (!Number.isInteger(step) || step < 0) throw new Error(`saveCheckpoint(${target}): step must be an integer >= 0, got ${step}`)

  const tensors = await readSavedTensors(input)
  fs.mkdirSync(path.dirname(target), { recursive: true })
  recoverInterruptedSave(target)
  const partial = siblingName(target, 'partial')
  fs.mkdirSync(partial)
  try {
    const files = writeContents(partial, input, tensors, step)
    writeJson(path.join(partial, FILES.workbench), workbenchMeta(input, step, files)) // last: marks the folder complete
    fsyncPath(partial)
    swapIntoPlace(partial, target)
  } catch (err) {
    fs.rmSync(partial, { recursive: true, force: true })
    // An OS error (a full disk) names the checkpoint as well as the file (writingFile).
    const code = (err as NodeJS.ErrnoException).code
    if (code && err instanceof Error) {
      throw Object.assign(new Error(`could not save checkpoint ${target}: ${err.message}`, { cause: err }), { code })
    }
    throw err
  }
  return target
}

/** The host copies of what a checkpoint saves: the weights (PEFT names for an adapter) and AdamW's moments. */
interface SavedTensors {
  weights: Record<string, RawTensor>
  optimizer?: Record<string, RawTensor>
}

async function readSavedTensors(input: SaveCheckpointInput): Promise<SavedTensors> {
  const weights = await toRaw(input.adapter ? toPeftNames(input.weights) : input.weights)
  if (!input.optimizer) return { weights }
  return { weights, optimizer: await optimizerTensors(input.optimizer) }
}

function writeContents(folder: string, input: SaveCheckpointInput, tensors: SavedTensors, step: number): string[] {
  const files: string[] = input.adapter ? [ADAPTER_FILES.config, ADAPTER_FILES.model] : [FILES.config, FILES.model]
  const tokenizerIds = writeTokenizer(folder, input, files)
  if (input.adapter) {
    writeJson(path.join(folder, ADAPTER_FILES.config), peftAdapterConfig(input.adapter.settings, input.adapter.baseDir, input.kind === 'reward' ? 'SEQ_CLS' : 'CAUSAL_LM'))
    writeSafetensorsSynced(path.join(folder, ADAPTER_FILES.model), tensors.weights, { format: 'pt' })
  } else {
    writeJson(path.join(folder, FILES.config), llamaConfigToHf(input.config, { ...input.specialTokenIds, ...tokenizerIds }, input.kind))
    writeSafetensorsSynced(path.join(folder, FILES.model), tensors.weights, { format: 'pt' })
  }
  if (input.optimizer && tensors.optimizer) {
    writeSafetensorsSynced(path.join(folder, FILES.optimizer), tensors.optimizer, {
      format: 'workbench-adamw',
      step: String(input.optimizer.step),
    })
    files.push(FILES.optimizer)
  }
  if (input.trainerState) {
    writeJson(path.join(folder, FILES.trainerState), { ...input.trainerState, step: input.trainerState.step ?? step })
    files.push(FILES.trainerState)
  }
  return [...files, FILES.workbench]
}

/** Saves or copies tokenizer.json (+ a tokenizer_config.json transformers can read); returns its special ids. */
function writeTokenizer(folder: string, input: SaveCheckpointInput, files: string[]): SpecialTokenIds {
  const file = path.join(folder, FILES.tokenizer)
  if (input.tokenizer) input.tokenizer.save(file)
  else if (input.tokenizerFile) writingFile(file, () => fs.copyFileSync(input.tokenizerFile!, file))
  else return {}
  fsyncPath(file)
  files.push(FILES.tokenizer)

  if (!input.tokenizer && input.tokenizerFile) {
    // A copied tokenizer keeps its own tokenizer_config.json (chat template, special tokens ...).
    const sibling = path.join(path.dirname(input.tokenizerFile), FILES.tokenizerConfig)
    if (fs.existsSync(sibling)) {
      fs.copyFileSync(sibling, path.join(folder, FILES.tokenizerConfig))
      fsyncPath(path.join(folder, FILES.tokenizerConfig))
      files.push(FILES.tokenizerConfig)
      return {}
    }
  }
  const special = input.tokenizer?.special ?? specialFromIds(input.specialTokenIds ?? {})
  const tokenConfig = tokenizerConfig(file, special, input.config.max_seq_len)
  if (tokenConfig) {
    writeJson(path.join(folder, FILES.tokenizerConfig), tokenConfig)
    files.push(FILES.tokenizerConfig)
  }
  const generationConfig = readAddedTokens(file, (added) => hfGenerationConfig(added, special))
  if (generationConfig) {
    writeJson(path.join(folder, FILES.generationConfig), generationConfig)
    files.push(FILES.generationConfig)
  }
  // A tokenizer object's ids win over given ones in config.json; a copied file's come from the caller.
  return input.tokenizer ? idsOf(special) : {}
}

function idsOf(special: NonNullable<CheckpointTokenizer['special']>): SpecialTokenIds {
  const ids: SpecialTokenIds = {}
  if (special.bos !== undefined) ids.bos_token_id = special.bos
  if (special.eos !== undefined) ids.eos_token_id = special.eos
  if (special.pad !== undefined) ids.pad_token_id = special.pad
  return ids
}

function specialFromIds(ids: SpecialTokenIds): NonNullable<CheckpointTokenizer['special']> {
  const eos = Array.isArray(ids.eos_token_id) ? ids.eos_token_id[0] : ids.eos_token_id
  return { bos: ids.bos_token_id, eos, pad: ids.pad_token_id }
}

/**
 * transformers' AutoTokenizer reads tokenizer_config.json to know the class and which added
 * tokens are BOS/EOS/PAD/UNK. The token texts come from tokenizer.json's added_tokens.
 */
function readAddedTokens<T>(tokenizerFile: string, use: (added: AddedTokenJson[]) => T | null): T | null {
  try {
    return use(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')).added_tokens ?? [])
  } catch {
    return null
  }
}

function tokenizerConfig(tokenizerFile: string, special: NonNullable<CheckpointTokenizer['special']>, maxLen: number): object | null {
  return readAddedTokens(tokenizerFile, (added) => hfTokenizerConfig(added, special, maxLen))
}

function workbenchMeta(input: SaveCheckpointInput, step: number, files: string[]): WorkbenchMeta {
  const meta: WorkbenchMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step,
    created: new Date().toISOString(),
    model: input.config,
    files,
  }
  if (input.runConfig) meta.config = input.runConfig
  if (input.stage) meta.stage = input.stage
  if (input.runId) meta.runId = input.runId
  return meta
}

async function optimizerTensors(state: AdamWState): Promise<Record<string, RawTensor>> {
  const out: Record<string, RawTensor> = {}
  for (const [which, moments] of [['m', state.m], ['v', state.v]] as const) {
    const raw = await toRaw(moments)
    for (const [name, t] of Object.entries(raw)) out[`${which}/${name}`] = t
  }
  return out
}

async function toRaw(tensors: Record<string, tf.Tensor>): Promise<Record<string, RawTensor>> {
  const out: Record<string, RawTensor> = {}
  for (const [name, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`checkpoint: tensor ${name} has dtype ${t.dtype}; only float32 and int32 are saved`)
    const data = (await t.data()) as Float32Array | Int32Array
    out[name] = { dtype: t.dtype, shape: [...t.shape], data }
  }
  return out
}

function shapesOf(tensors: Record<string, tf.Tensor>): Record<string, { shape: number[] }> {
  return Object.fromEntries(Object.entries(tensors).map(([n, t]) => [n, { shape: t.shape }]))
}

// ---------------------------------------------------------------------------------------------
// Load

/**
 * Loads a workbench checkpoint or a plain Hugging Face Llama folder. Returns plain tensors: build
 * the model with Llama.fromWeights(loaded.config, loaded.tensors), then call loaded.dispose().
 */
export function loadCheckpoint(dir: string): LoadedCheckpoint {
  const folder = path.resolve(dir)
  recoverInterruptedSave(folder)
  if (isAdapterDir(folder)) return loadAdapterCheckpoint(folder)
  const workbench = readWorkbenchMeta(folder)
  const hf = readHfFolder(folder)
  // config.json is the authority on shapes; workbench.json adds what it cannot hold.
  const config = workbench ? { ...hf.config, multiple_of: workbench.model.multiple_of } : hf.config
  const created: tf.Tensor[] = []
  const toTf = (raw: Record<string, RawTensor>) => {
    const out: Record<string, tf.Tensor> = {}
    for (const [name, t] of Object.entries(raw)) {
      out[name] = tf.tensor(t.data, t.shape, t.dtype)
      created.push(out[name])
    }
    return out
  }
  const loaded: LoadedCheckpoint = {
    kind: hf.kind,
    config,
    tensors: toTf(hf.weights),
    heads: toTf(hf.heads),
    hfConfig: hf.hfConfig,
    tokenizerPath: hf.tokenizerPath,
    specialTokenIds: hf.specialTokenIds,
    warnings: hf.warnings,
    dispose: () => tf.dispose(created),
  }
  if (workbench) loaded.workbench = workbench
  try {
    const optimizerFile = path.join(folder, FILES.optimizer)
    if (fs.existsSync(optimizerFile)) loaded.optimizer = readOptimizer(optimizerFile, toTf)
    const stateFile = path.join(folder, FILES.trainerState)
    if (fs.existsSync(stateFile)) loaded.trainerState = readTrainerState(stateFile)
  } catch (err) {
    loaded.dispose()
    throw err
  }
  return loaded
}

/**
 * A PEFT LoRA folder: its base model (loaded as any checkpoint; an adapter over an adapter is
 * refused), the adapters and heads from adapter_model.safetensors, and the folder's own tokenizer,
 * optimizer and trainer state when it has them.
 */
function loadAdapterCheckpoint(folder: string): LoadedCheckpoint {
  const { settings, taskType, baseDir } = readAdapterConfig(folder)
  if (isAdapterDir(baseDir)) throw new Error(`${path.join(folder, ADAPTER_FILES.config)}: the base model ${baseDir} is itself an adapter; merge it first (workbench merge)`)
  const base = loadCheckpoint(baseDir)
  const created: tf.Tensor[] = []
  const toTf = (raw: Record<string, RawTensor>) => {
    const out: Record<string, tf.Tensor> = {}
    for (const [name, t] of Object.entries(raw)) {
      out[name] = tf.tensor(t.data, t.shape, t.dtype)
      created.push(out[name])
    }
    return out
  }
  try {
    const file = path.join(folder, ADAPTER_FILES.model)
    const saved = fromPeftNames(readSafetensors(file).tensors, file)
    const isAdapterTensor = (name: string) => /\.lora_[AB]\.weight$/.test(name)
    const adapterTensors = toTf(Object.fromEntries(Object.entries(saved).filter(([n]) => isAdapterTensor(n))))
    const heads = toTf(Object.fromEntries(Object.entries(saved).filter(([n]) => !isAdapterTensor(n))))
    const tokenizer = path.join(folder, FILES.tokenizer)
    const loaded: LoadedCheckpoint = {
      ...base,
      kind: taskType === 'SEQ_CLS' ? 'reward' : base.kind,
      heads: { ...base.heads, ...heads },
      tokenizerPath: fs.existsSync(tokenizer) ? tokenizer : base.tokenizerPath,
      adapter: { settings, baseDir, taskType, tensors: adapterTensors },
      dispose: () => {
        tf.dispose(created)
        base.dispose()
      },
    }
    delete loaded.optimizer
    delete loaded.trainerState
    const workbench = readWorkbenchMeta(folder)
    if (workbench) loaded.workbench = workbench
    else delete loaded.workbench
    const optimizerFile = path.join(folder, FILES.optimizer)
    if (fs.existsSync(optimizerFile)) loaded.optimizer = readOptimizer(optimizerFile, toTf)
    const stateFile = path.join(folder, FILES.trainerState)
    if (fs.existsSync(stateFile)) loaded.trainerState = readTrainerState(stateFile)
    return loaded
  } catch (err) {
    tf.dispose(created)
    base.dispose()
    throw err
  }
}

function readWorkbenchMeta(folder: string): WorkbenchMeta | undefined {
  const file = path.join(folder, FILES.workbench)
  if (!fs.existsSync(file)) return undefined
  const meta = readJson(file) as Partial<WorkbenchMeta>
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: "format" must be "${CHECKPOINT_FORMAT}", got ${JSON.stringify(meta.format)}`)
  if (typeof meta.version !== 'number' || meta.version > CHECKPOINT_VERSION) {
    throw new Error(`${file}: checkpoint format version ${JSON.stringify(meta.version)} is newer than this workbench reads (${CHECKPOINT_VERSION}); update the workbench`)
  }
  if (!meta.model || typeof meta.model !== 'object') throw new Error(`${file}: "model" is missing`)
  if (!Number.isInteger(meta.step)) throw new Error(`${file}: "step" must be an integer, got ${JSON.stringify(meta.step)}`)
  return meta as WorkbenchMeta
}

function readOptimizer(file: string, toTf: (raw: Record<string, RawTensor>) => Record<string, tf.Tensor>): AdamWState {
  const { tensors, metadata } = readSafetensors(file)
  const step = Number(metadata.step)
  if (metadata.format !== 'workbench-adamw' || !Number.isInteger(step) || step < 0) {
    throw new Error(`${file}: not a workbench AdamW state (metadata ${JSON.stringify(metadata)})`)
  }
  const m: Record<string, RawTensor> = {}
  const v: Record<string, RawTensor> = {}
  for (const [key, t] of Object.entries(tensors)) {
    const slash = key.indexOf('/')
    const which = key.slice(0, slash)
    if (slash < 0 || (which !== 'm' && which !== 'v')) throw new Error(`${file}: tensor "${key}" is not m/<name> or v/<name>`)
    ;(which === 'm' ? m : v)[key.slice(slash + 1)] = t
  }
  return { step, m: toTf(m), v: toTf(v) }
}

function readTrainerState(file: string): TrainerState {
  const state = readJson(file) as TrainerState
  if (!state || typeof state !== 'object' || !Number.isInteger(state.step)) {
    throw new Error(`${file}: "step" must be an integer, got ${JSON.stringify((state as TrainerState | null)?.step)}`)
  }
  return state
}

/**
 * Imports a Hugging Face Llama folder (already on disk) as a workbench checkpoint at `destDir`:
 * validated, converted to float32, with workbench.json, so later stages treat it like any other.
 * Returns the checkpoint folder and anything the user should know (e.g. a missing tokenizer.json).
 */
export async function importHfCheckpoint(srcDir: string, destDir: string, opts: { runId?: string } = {}): Promise<{ dir: string; config: LlamaConfig; warnings: string[] }> {
  const loaded = loadCheckpoint(srcDir)
  try {
    const dir = await saveCheckpoint(destDir, {
      config: loaded.config,
      weights: { ...loaded.tensors, ...loaded.heads },
      tokenizerFile: loaded.tokenizerPath,
      specialTokenIds: loaded.specialTokenIds,
      runConfig: { imported_from: path.resolve(srcDir) },
      stage: 'import',
      runId: opts.runId,
      kind: loaded.kind,
    })
    return { dir, config: loaded.config, warnings: loaded.warnings }
  } finally {
    loaded.dispose()
  }
}

/** True for a complete checkpoint or Hugging Face folder: config.json and its weights are present. */
export function isCheckpointDir(dir: string): boolean {
  // The hidden folders of a save in progress (or interrupted) are never checkpoints.
  if (/^\..*\.(partial|old)-\d+-[0-9a-f]+$/.test(path.basename(dir))) return false
  return hasModelFiles(dir)
}

function hasModelFiles(dir: string): boolean {
  const has = (f: string) => fs.existsSync(path.join(dir, f))
  if (isAdapterDir(dir)) return true
  return has(FILES.config) && (has(FILES.model) || has('model.safetensors.index.json'))
}

// ---------------------------------------------------------------------------------------------
// Atomic replacement and crash recovery

function siblingName(target: string, kind: 'partial' | 'old'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`)
}

function siblings(target: string, kind: 'partial' | 'old'): string[] {
  const parent = path.dirname(target)
  const prefix = `.${path.basename(target)}.${kind}-`
  if (!fs.existsSync(parent)) return []
  return fs.readdirSync(parent).filter((f) => f.startsWith(prefix)).map((f) => path.join(parent, f))
}

/**
 * Cleans up after a save that crashed: partial folders are deleted; an ".old" folder is put back
 * when the crash came between moving it aside and moving the new one in, else deleted.
 * Returns what it did, one line per folder.
 */
export function recoverInterruptedSave(dir: string): string[] {
  const target = path.resolve(dir)
  const actions: string[] = []
  for (const partial of siblings(target, 'partial')) {
    fs.rmSync(partial, { recursive: true, force: true })
    actions.push(`removed unfinished ${partial}`)
  }
  for (const old of siblings(target, 'old')) {
    if (!fs.existsSync(target) && hasModelFiles(old)) {
      fs.renameSync(old, target)
      actions.push(`restored ${target} from ${old}`)
    } else {
      fs.rmSync(old, { recursive: true, force: true })
      actions.push(`removed replaced ${old}`)
    }
  }
  return actions
}

function swapIntoPlace(partial: string, target: string): void {
  if (!fs.existsSync(target)) {
    fs.renameSync(partial, target)
  } else {
    const old = siblingName(target, 'old')
    fs.renameSync(target, old)
    fs.renameSync(partial, target)
    fs.rmSync(old, { recursive: true, force: true })
  }
  fsyncPath(path.dirname(target))
}

// ---------------------------------------------------------------------------------------------
// Small file helpers

function writeSafetensorsSynced(file: string, tensors: Record<string, RawTensor>, metadata: Record<string, string>): void {
  writingFile(file, () => writeSafetensors(file, tensors, metadata))
  fsyncPath(file)
}

function writeJson(file: string, value: unknown): void {
  const text = JSON.stringify(value, finiteOnly(path.basename(file)), 2) + '\n'
  writingFile(file, () => fs.writeFileSync(file, text))
  fsyncPath(file)
}

/** JSON would silently turn NaN and Infinity into null; refuse them, naming the key. */
function finiteOnly(file: string) {
  return (key: string, value: unknown) => {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`checkpoint ${file}: "${key}" is ${value}, which JSON cannot hold`)
    return value
  }
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`)
  }
}

/** Flushes a file or folder to disk, so a rename never publishes data still in the page cache. */
function fsyncPath(p: string): void {
  let fd: number | undefined
  try {
    fd = fs.openSync(p, 'r')
    fs.fsyncSync(fd)
  } catch {
    // Some platforms (Windows folders) cannot fsync a directory; the rename is still atomic.
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}
