// Everything checked before a run is recorded, for the CLI and the API alike (JobRunner.submit is
// the one way in): the whole config against the stage's schema (cross-field rules included), the
// parents the stage requires, the model's memory estimate against this machine's memory, and the
// stage's cheap data checks. A failure here leaves no run behind; what only the run can find
// (a bad line deep in a large file) still fails the run with a clear error.
import os from 'node:os'
import { ConfigError, resolveConfig } from '../config/schema'
import type { Store } from '../tracking/store'
import { folderParentsIntoConfig, missingParents, parentsFromConfig } from '../train/stages/registry'
import type { EstimateFrom, ParentRef, StageDefinition } from '../train/stages/types'
import { readModelConfig } from '../model/load'

/**
 * The resolved config of a run about to be submitted and all its parents (the given ones and those
 * its config names, resolved in `store`); throws ConfigError, or the error naming the bad
 * parent or data file. Cheapest checks first: config, parents, memory, then the data.
 */
export function preflight(
  stage: StageDefinition,
  input: Record<string, unknown>,
  given: ParentRef[],
  store: Store,
  machineBytes = os.totalmem(),
): { config: Record<string, unknown>; parents: ParentRef[] } {
  const where = `${stage.name} config`
  const config = resolveConfig(stage.schema, folderParentsIntoConfig(stage.name, input, given), where)
  const missing = missingParents(stage, config, given)
  if (missing.length > 0) throw new ConfigError(missing, where)
  const parents = [...given, ...parentsFromConfig(stage.name, config, store, given)]
  checkFitsInMemory(stage, config, machineBytes, startingModel(stage, parents))
  stage.precheck?.(config)
  return { config, parents }
}

/**
 * The model of the checkpoint a stage starts from (its first required parent), for the memory
 * estimate; undefined when the stage starts from none, or the folder's config cannot be read (the
 * run's loader then says what is wrong with it).
 */
function startingModel(stage: StageDefinition, parents: ParentRef[]): EstimateFrom | undefined {
  const role = (stage.parents ?? []).find((p) => p.required)?.role
  const dir = parents.find((p) => p.role === role)?.checkpointDir
  if (!dir) return undefined
  try {
    return { model: readModelConfig(dir) }
  } catch {
    return undefined
  }
}

/** Refuses a config whose training memory estimate exceeds the machine's memory. */
export function checkFitsInMemory(stage: StageDefinition, config: Record<string, unknown>, machineBytes: number, from?: EstimateFrom): void {
  const estimate = stage.estimate?.(config, from)
  if (!estimate || estimate.totalBytes <= machineBytes) return
  throw new ConfigError(
    [
      {
        key: 'model',
        message:
          `training this model needs about ${formatBytes(estimate.totalBytes)} (${estimate.params.toExponential(2)} parameters: ` +
          `weights ${formatBytes(estimate.weightsBytes)}, gradients ${formatBytes(estimate.gradientBytes)}, optimiser ${formatBytes(estimate.optimizerBytes)}, activations ~${formatBytes(estimate.activationBytes)}), ` +
          `more than this machine's ${formatBytes(machineBytes)} of memory; ${smallerAdvice(config, from)}`,
      },
    ],
    `${stage.name} config`,
  )
}

function smallerAdvice(config: Record<string, unknown>, from: EstimateFrom | undefined): string {
  if (!from) return 'make it smaller (dim, n_layers, batch_size, seq_len)'
  return config.finetuning === 'full' ? 'lower batch_size or seq_len, or fine-tune with finetuning=lora' : 'lower batch_size or seq_len, or start from a smaller model'
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`
}
