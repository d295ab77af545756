// The list of stages. The CLI, the job worker and the app all find stages here, so a new stage
// plugs in by adding its file and one line below (see docs/architecture.md, "How to add a stage").
import type { ConfigIssue } from '../../config/schema'
import type { Store } from '../../tracking/store'
import { resolveModelRef } from '../../jobs/checkpoints'
import type { ParentRef, StageDefinition } from './types'
import { tokenizerStage } from './tokenizer'
import { pretrainStage } from './pretrain'
import { sftStage } from './sft'
import { goldEvalStage } from '../../eval/stage'
import { safetyEvalStage } from '../../eval/safetyStage'
import { preferencesStage } from './preferences'
import { rejectionSamplingStage } from './rejectionSampling'
import { contextDistillationStage } from './contextDistillation'
import { gattStage } from './gatt'
import { ppoStage } from './ppo'
import { rewardStage } from './reward'
import { winrateStage } from './winrate'
import { temperatureSweepStage } from './temperatureSweep'
import { goldAnnotationStage } from './goldAnnotation'

const STAGES: StageDefinition[] = [
  tokenizerStage,
  pretrainStage,
  sftStage,
  goldEvalStage,
  safetyEvalStage,
  preferencesStage,
  rewardStage,
  rejectionSamplingStage,
  ppoStage,
  contextDistillationStage,
  gattStage,
  winrateStage,
  temperatureSweepStage,
  goldAnnotationStage,
]

export function listStages(): StageDefinition[] {
  return [...STAGES]
}

export function getStage(name: string): StageDefinition {
  const stage = STAGES.find((s) => s.name === name)
  if (!stage) throw new Error(`unknown stage "${name}" (known stages: ${STAGES.map((s) => s.name).join(', ')})`)
  return stage
}

/** The stage whose command line starts `argv` (e.g. ['tokenizer', 'train', ...]), and the rest of argv. */
export function stageForCommand(argv: string[]): { stage: StageDefinition; rest: string[] } | undefined {
  for (const stage of STAGES) {
    const words = stage.cli?.command.split(' ') ?? []
    if (words.length > 0 && words.every((w, i) => argv[i] === w)) return { stage, rest: argv.slice(words.length) }
  }
  return undefined
}

/**
 * The parents a run's config implies: e.g. SFT's `base` names a run (or a checkpoint folder),
 * which becomes a parent with role 'base'. Roles already given explicitly are left alone.
 */
export function parentsFromConfig(stageName: string, config: Record<string, unknown>, store: Store, given: ParentRef[]): ParentRef[] {
  const out: ParentRef[] = []
  for (const { key, role } of getStage(stageName).parents ?? []) {
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
  const stage = getStage(stageName)
  const out = { ...config }
  for (const parent of parents) {
    if (parent.runId || !parent.checkpointDir) continue
    const key = stage.parents?.find((p) => p.role === parent.role)?.key
    if (!key) throw new Error(`stage ${stage.name} has no use for a parent folder with role "${parent.role}"`)
    if (out[key] === undefined || out[key] === '') out[key] = parent.checkpointDir
  }
  return out
}

/** Required parents that neither the config nor the given parents name (e.g. SFT without a base). */
export function missingParents(stage: StageDefinition, config: Record<string, unknown>, parents: ParentRef[]): ConfigIssue[] {
  return (stage.parents ?? [])
    .filter((p) => p.required && !parents.some((g) => g.role === p.role) && (typeof config[p.key] !== 'string' || config[p.key] === ''))
    .map((p) => ({ key: p.key, message: `is required (a run id or checkpoint folder, or a parent run with role "${p.role}")` }))
}
