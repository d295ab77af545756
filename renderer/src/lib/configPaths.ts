// A run's config as flat dotted paths: { model: { n_layers: 4 } } -> { 'model.n_layers': 4 }.
// Search, the runs table's config columns and the parallel-coordinates axes all name a config value
// by such a path. Arrays are values (a list of data files), not more paths.

export type ConfigValue = string | number | boolean | null | unknown[]

/** Every leaf of a config under its dotted path, in the config's own order. */
export function flattenConfig(config: Record<string, unknown>, prefix = ''): Record<string, ConfigValue> {
  const out: Record<string, ConfigValue> = {}
  for (const [key, value] of Object.entries(config ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    if (isPlainObject(value)) Object.assign(out, flattenConfig(value, path))
    else if (value !== undefined) out[path] = value as ConfigValue
  }
  return out
}

/** The value at a dotted path, or undefined when the config has none there. */
export function configValue(config: Record<string, unknown>, path: string): ConfigValue | undefined {
  const flat = flattenConfig(config)
  return path in flat ? flat[path] : undefined
}

/** The union of the dotted paths of several configs, sorted. */
export function configPaths(configs: Record<string, unknown>[]): string[] {
  const paths = new Set<string>()
  for (const c of configs) for (const p of Object.keys(flattenConfig(c))) paths.add(p)
  return [...paths].sort()
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
