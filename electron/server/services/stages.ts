// The stage registry for the app's form: the stages with their fields, presets and required
// parents, and the model size / memory estimate of a config being edited.

import fs from 'node:fs'
import { defaultsFile } from '../../../core/config/defaults'
import { getStage, listStages } from '../../../core/train/stages/registry'
import { checkValue, ConfigError, resolveConfig } from '../../../core/config/schema'
import { readModelConfig } from '../../../core/model/load'
import type { EstimateFrom } from '../../../core/train/stages/types'
import { ApiError, type ApiHandlers, type ModelEstimate } from '../../shared/api'
import type { ServiceContext } from './context'
import { repoRoot } from './system'

export function createStageHandlers(_ctx: ServiceContext) {
  return {
    'stages:list': async () =>
      listStages().map((s) => ({
        name: s.name,
        title: s.title,
        description: s.description,
        fields: s.fields,
        presets: (s.presets ?? {}) as Record<string, Record<string, unknown>>,
        // The form asks for the parents a run cannot start without (their config keys are hidden).
        parentRoles: (s.parents ?? []).filter((p) => p.required).map((p) => p.role),
        defaults: shippedDefaults(s.name),
      })),
    'model:estimate': async ({ stage, config, parents }) => estimate(stageOrError(stage), config, parents ?? {}),
    'config:check': async ({ stage, config }) => checkConfig(stageOrError(stage), config),
  } satisfies Partial<ApiHandlers>
}

/** resources/configs/<stage>.json, the form's "Load defaults" (absent when the file is missing). */
function shippedDefaults(stage: string): Record<string, unknown> | undefined {
  const file = defaultsFile(repoRoot(), stage)
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>) : undefined
}

/** The stage of this name, or a 404 for the page. */
export function stageOrError(name: string) {
  try {
    return getStage(name)
  } catch (error) {
    throw new ApiError((error as Error).message, 'not_found')
  }
}

/**
 * Model size and training memory for the form's config, from the stage's own estimate. The form
 * sends what is valid so far: fields it lacks or that do not pass take their defaults here. A stage
 * that starts from a checkpoint is estimated on the model of the one picked for its first required
 * parent (`parents`, folder by role).
 */
function estimate(stage: ReturnType<typeof getStage>, input: Record<string, unknown>, parents: Record<string, string>): ModelEstimate {
  if (!stage.estimate) throw new ApiError('this stage trains no model, so there is no size to preview')
  const role = (stage.parents ?? []).find((p) => p.required)?.role
  let from: EstimateFrom | undefined
  if (role) {
    if (!parents[role]) throw new ApiError(`pick the ${role} checkpoint to see the memory this run needs`)
    try {
      from = { model: readModelConfig(parents[role]) }
    } catch (error) {
      throw new ApiError((error as Error).message)
    }
  }
  const config: Record<string, unknown> = {}
  for (const field of stage.fields) {
    const value = input[field.key]
    if (value !== undefined && checkValue(field, value) === null) config[field.key] = value
    else if (field.default !== undefined) config[field.key] = field.default
  }
  let result: ModelEstimate | undefined
  try {
    result = stage.estimate(config, from)
  } catch (error) {
    throw new ApiError((error as Error).message)
  }
  if (!result) throw new ApiError('the size of this model is known only once the run starts')
  return result
}

/**
 * The whole config against the stage's schema, cross-field rules included (n_heads must be a
 * multiple of n_kv_heads): the same resolveConfig the run's preflight uses, so the form's Start
 * is disabled for exactly the configs that would be refused. The parent roles (SFT's `base`) are
 * picked beside the form, so their "is required" is the picker's to say.
 */
function checkConfig(stage: ReturnType<typeof getStage>, config: Record<string, unknown>): { key: string; message: string }[] {
  try {
    resolveConfig(stage.schema, config, `${stage.name} config`)
    return []
  } catch (error) {
    if (!(error instanceof ConfigError)) throw new ApiError((error as Error).message)
    const pickedBeside = new Set((stage.parents ?? []).map((p) => p.role))
    return error.issues.filter((issue) => !pickedBeside.has(issue.key)).map(({ key, message }) => ({ key, message }))
  }
}
