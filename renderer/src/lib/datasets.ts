// Which data files a config field offers, and how a dataset reads in a list: one rule for every
// stage, from the field's declared format (core/config/schema.ts `.meta({ data })`).

import type { ConfigField, DataFormat, DatasetInfo } from '../../../electron/shared/api'
import { formatBytes } from './format'

export const FORMAT_LABELS: Record<DataFormat, string> = {
  text: 'text corpus',
  sft: 'SFT conversations',
  preferences: 'preference pairs',
  prompts: 'prompt set',
}

/** The datasets a field can read: those of its declared format, or all when it declares none. */
export function datasetsFor(field: ConfigField, datasets: readonly DatasetInfo[]): DatasetInfo[] {
  const wanted = field.dataFormat
  if (!wanted) return [...datasets]
  return datasets.filter((d) => d.readableAs?.includes(wanted))
}

/** "SFT conversations (messages)", "not a dataset". */
export function formatLabel(d: Pick<DatasetInfo, 'format' | 'variant'>): string {
  if (!d.format) return 'unknown format'
  return d.variant ? `${FORMAT_LABELS[d.format]} (${d.variant})` : FORMAT_LABELS[d.format]
}

/** A picker option: "chat.jsonl · demo/tiny-seed1 · 12.0 KB". */
export function optionLabel(d: DatasetInfo, home?: string): string {
  const where = home && d.path.startsWith(home + '/') ? d.path.slice(home.length + 1, d.path.length - d.name.length - 1) : d.folder ?? ''
  return [d.name, where, formatBytes(d.bytes)].filter(Boolean).join(' · ')
}
