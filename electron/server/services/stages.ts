// The stage registry for the app's form: the stages with their fields, presets and required
// parents, and the model size / memory estimate of a config being edited.

import fs from 'node:fs'
import { defaultsFile } from '../../../core/config/defaults'
import { getStage, listStages } from '../../../core/train/stages/registry'
import { checkValue, ConfigError, resolveConfig } from '../../../core/config/schema'
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
    'model:estimate': async ({ stage, config }) => estimate(stageOrError(stage), config),
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
 * sends what is valid so far: fields it lacks or that do not pass take their defaults here.
 */
function estimate(stage: ReturnType<typeof getStage>, input: Record<string, unknown>): ModelEstimate {
  if (!stage.estimate) {
    const from = (stage.parents ?? []).filter((p) => p.required).map((p) => p.role)
    throw new ApiError(from.length > 0 ? `the model comes from the ${from.join(' / ')} checkpoint, so it has that checkpoint's size` : 'this stage trains no model, so there is no size to preview')
  }
  const config: Record<string, unknown> = {}
  for (const field of stage.fields) {
    const value = input[field.key]
    if (value !== undefined && checkValue(field, value) === null) config[field.key] = value
    else if (field.default !== undefined) config[field.key] = field.default
  }
  let result: ModelEstimate | undefined
  try {
    result = stage.estimate(config)
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
