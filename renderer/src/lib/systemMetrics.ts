// The run page's "System" charts (W&B's system panel): the system/* metrics the job worker samples
// (core/jobs/systemMetrics.ts), each titled with what it is and its unit. Memory is shown in GB
// once it reaches a GB, in MB below.

export const SYSTEM_PREFIX = 'system/'
/** Runs recorded before system/* logged resident memory from the training loop as sys/memory (MB). */
const LEGACY_PREFIX = 'sys/'

/** Known system metrics in the order shown; the stored unit of the memory ones is MB. */
const KNOWN: Record<string, { title: string; unit: '%' | 'MB' }> = {
  'system/cpu_percent': { title: 'CPU use', unit: '%' },
  'system/rss_mb': { title: 'Resident memory', unit: 'MB' },
  'system/backend_mb': { title: 'Backend tensors', unit: 'MB' },
  'system/wasm_heap_mb': { title: 'Wasm heap', unit: 'MB' },
  'sys/memory': { title: 'Resident memory', unit: 'MB' },
}

export function isSystemMetric(key: string): boolean {
  return key.startsWith(SYSTEM_PREFIX) || key.startsWith(LEGACY_PREFIX)
}

/** The system metrics among these keys: the known ones in their order, then any others by name. */
export function systemKeys(keys: Iterable<string>): string[] {
  const system = [...keys].filter(isSystemMetric)
  const known = Object.keys(KNOWN).filter((k) => system.includes(k))
  return [...known, ...system.filter((k) => !(k in KNOWN)).sort()]
}

export interface SystemChart {
  /** e.g. "Resident memory (GB)" */
  title: string
  /** The values in the unit of the title (null kept: a gap). */
  values: (number | null)[]
}

/** A system metric's chart title with its unit, and its values scaled to that unit. */
export function systemChart(key: string, values: (number | null)[]): SystemChart {
  const known = KNOWN[key]
  if (!known) return { title: key, values }
  if (known.unit === '%') return { title: `${known.title} (% of one core)`, values }
  const largest = Math.max(0, ...values.filter((v): v is number => v !== null && Number.isFinite(v)))
  if (largest < 1024) return { title: `${known.title} (MB)`, values }
  return { title: `${known.title} (GB)`, values: values.map((v) => (v === null ? null : v / 1024)) }
}
