// The default config of a stage as a plain object, and the file the app ships it in
// (resources/configs/<stage>.json). The files are generated from the schemas by
// scripts/make-resources.ts; a test compares them with defaultsOf(), so they cannot drift.
import path from 'node:path'
import type { ConfigField } from './schema'

/** Every key that has a default, with that default (required and optional keys are left out). */
export function defaultsOf(fields: ConfigField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const field of fields) if (field.default !== undefined) out[field.key] = field.default
  return out
}

/** resources/configs/<stage>.json under the app's root folder. */
export function defaultsFile(appRoot: string, stage: string): string {
  return path.join(appRoot, 'resources', 'configs', `${stage}.json`)
}
