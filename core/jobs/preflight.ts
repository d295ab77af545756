// Everything checked before a run is recorded, for the CLI and the API alike (JobRunner.submit is
// the one way in): the whole config against the stage's schema (cross-field rules included), the
// parents the stage requires, the model's memory estimate against this machine's memory, and the
// stage's cheap data checks. A failure here leaves no run behind; what only the run can find
// (a bad line deep in a large file) still fails the run with a clear error.
import os from 'node:os'
import { ConfigError, resolveConfig } from '../config/schema'
import type { Store } from '../tracking/store'
import { folderParentsIntoConfig, missingParents, parentsFromConfig } from '../train/stages/registry'
import type { ParentRef, StageDefinition } from '../train/stages/types'

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
  checkFitsInMemory(stage, config, machineBytes)
  stage.precheck?.(config)
  return { config, parents }
}

/** Refuses a config whose training memory estimate exceeds the machine's memory. */
export function checkFitsInMemory(stage: StageDefinition, config: Record<string, unknown>, machineBytes: number): void {
  const estimate = stage.estimate?.(config)
  if (!estimate || estimate.totalBytes <= machineBytes) return
  throw new ConfigError(
    [
      {
        key: 'model',
        message:
          `training this model needs about ${formatBytes(estimate.totalBytes)} (${estimate.params.toExponential(2)} parameters: ` +
          `weights ${formatBytes(estimate.weightsBytes)}, optimiser ${formatBytes(estimate.optimizerBytes)}, activations ~${formatBytes(estimate.activationBytes)}), ` +
          `more than this machine's ${formatBytes(machineBytes)} of memory; make it smaller (dim, n_layers, batch_size, seq_len)`,
      },
    ],
    `${stage.name} config`,
  )
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
