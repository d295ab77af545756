// Finding checkpoints: the latest resumable one of a run (for `resume`), the model checkpoint a
// later stage starts from (a run's best, or a folder the user names), with clear errors.
import fs from 'node:fs'
import path from 'node:path'
import type { Store } from '../tracking/store'

/** Files that make a folder a model checkpoint (Hugging Face layout). */
const MODEL_FILES = ['config.json', 'model.safetensors']
/** Or a LoRA adapter folder (PEFT's layout, core/model/peft.ts; not imported here: it pulls in tfjs). */
const ADAPTER_FILES = ['adapter_config.json', 'adapter_model.safetensors']
/** The file that makes a checkpoint resumable (step, data cursor, guard ...). */
const TRAINER_STATE = 'trainer_state.json'

/** A model folder, or a LoRA adapter folder in PEFT's layout (a LoRA run's checkpoints). */
export function isModelCheckpoint(dir: string): boolean {
  const has = (f: string) => fs.existsSync(path.join(dir, f))
  return MODEL_FILES.every(has) || ADAPTER_FILES.every(has)
}

/** The run folder's checkpoint with the highest step that can be resumed, or null. */
export function latestResumableCheckpoint(runDir: string): string | null {
  const root = path.join(runDir, 'checkpoints')
  if (!fs.existsSync(root)) return null
  const candidates = fs
    .readdirSync(root)
    .map((name) => ({ name, step: Number(/^step-(\d+)$/.exec(name)?.[1] ?? NaN) }))
    .filter((c) => Number.isFinite(c.step))
    .sort((a, b) => b.step - a.step)
  for (const c of candidates) {
    const dir = path.join(root, c.name)
    if (isModelCheckpoint(dir) && fs.existsSync(path.join(dir, TRAINER_STATE))) return dir
  }
  return null
}

/**
 * The checkpoint of a run that later stages start from: the one with the lowest eval loss, or
 * the latest when none was evaluated. Null when the run has no checkpoint on disk.
 */
export function findModelCheckpoint(store: Store, runId: string | undefined): string | null {
  if (!runId) return null
  const found = store
    .listArtifacts(runId)
    .filter((a) => a.kind === 'checkpoint' || a.kind === 'model')
    .map((a) => ({ ...a, dir: path.resolve(store.home, a.path) }))
    .filter((a) => isModelCheckpoint(a.dir))
  if (found.length === 0) return null
  const evalLoss = (a: (typeof found)[number]) => {
    const v = (a.meta as Record<string, unknown> | undefined)?.eval_loss
    return typeof v === 'number' && Number.isFinite(v) ? v : Infinity
  }
  found.sort((a, b) => evalLoss(a) - evalLoss(b) || (b.step ?? 0) - (a.step ?? 0))
  return found[0].dir
}

export interface ModelRef {
  checkpointDir: string
  /** Set when the reference named a recorded run. */
  runId?: string
}

/**
 * Resolves what the user typed for --base / --model / init_from: a checkpoint folder (a
 * workbench checkpoint or an imported Hugging Face Llama folder) or the id of a run with one.
 */
export function resolveModelRef(store: Store, ref: string, what = 'model'): ModelRef {
  const asPath = path.resolve(ref)
  if (fs.existsSync(asPath)) {
    if (!fs.statSync(asPath).isDirectory()) {
      throw new Error(`${what} ${ref}: expected a checkpoint folder (config.json + model.safetensors), got a file`)
    }
    if (!isModelCheckpoint(asPath)) {
      throw new Error(`${what} ${ref}: the folder has no ${MODEL_FILES.join(' and ')}, so it is not a checkpoint`)
    }
    return { checkpointDir: asPath }
  }
  let runId: string
  try {
    runId = store.resolveRunId(ref)
  } catch {
    throw new Error(`${what} ${ref}: neither a checkpoint folder nor the id of a recorded run`)
  }
  const run = store.getRunRecord(runId)
  const dir = findModelCheckpoint(store, run.id)
  if (!dir) throw new Error(`${what} ${ref}: run ${run.id} (${run.stage}, ${run.status}) has no checkpoint yet`)
  return { checkpointDir: dir, runId: run.id }
}
