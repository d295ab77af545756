// The list of stages. The CLI, the job worker and the app all find stages here, so a new stage
// plugs in by adding its file and one line below.
import type { Store } from '../../tracking/store'
import { resolveModelRef } from '../../jobs/checkpoints'
import type { ParentRef, StageDefinition } from './types'
import { tokenizerStage } from './tokenizer'
import { pretrainStage } from './pretrain'
import { sftStage } from './sft'
import { goldEvalStage } from '../../eval/stage'
import { preferencesStage } from './preferences'

const STAGES: StageDefinition[] = [tokenizerStage, pretrainStage, sftStage, goldEvalStage, preferencesStage]

/**
 * Config keys that name the model a run starts from (a run id or a checkpoint folder), and the
 * parent role that gives it in the run's lineage.
 */
const PARENT_KEYS: Record<string, Record<string, string>> = {
  pretrain: { init_from: 'continue' },
  sft: { base: 'base' },
  gold_eval: { model: 'model' },
}

export function listStages(): StageDefinition[] {
  return [...STAGES]
}

export function getStage(name: string): StageDefinition {
  const stage = STAGES.find((s) => s.name === name)
  if (!stage) throw new Error(`unknown stage "${name}" (known stages: ${STAGES.map((s) => s.name).join(', ')})`)
  return stage
}

/**
 * The parents a run's config implies: e.g. SFT's `base` names a run (or a checkpoint folder),
 * which becomes a parent with role 'base'. Roles already given explicitly are left alone.
 */
export function parentsFromConfig(stageName: string, config: Record<string, unknown>, store: Store, given: ParentRef[]): ParentRef[] {
  const out: ParentRef[] = []
  for (const [key, role] of Object.entries(PARENT_KEYS[stageName] ?? {})) {
    const ref = config[key]
    if (typeof ref !== 'string' || ref === '' || given.some((p) => p.role === role)) continue
    const model = resolveModelRef(store, ref, key)
    out.push({ role, runId: model.runId, checkpointDir: model.checkpointDir })
  }
  return out
}

/**
 * A parent given only as a checkpoint folder (no recorded run, e.g. an imported model picked in
 * the app) cannot be stored as a lineage link, so it goes into the config key for its role
 * (SFT's `base` ...), where the stage reads it. Returns the config with those keys filled.
 */
export function folderParentsIntoConfig(stageName: string, config: Record<string, unknown>, parents: ParentRef[]): Record<string, unknown> {
  const out = { ...config }
  for (const parent of parents) {
    if (parent.runId || !parent.checkpointDir) continue
    const key = Object.entries(PARENT_KEYS[stageName] ?? {}).find(([, role]) => role === parent.role)?.[0]
    if (!key) throw new Error(`stage ${stageName} has no use for a parent folder with role "${parent.role}"`)
    if (out[key] === undefined || out[key] === '') out[key] = parent.checkpointDir
  }
  return out
}
