// Which data files a config field offers, and how a dataset reads in a list: one rule for every
// stage, from the field's declared format (core/config/schema.ts `.meta({ data })`).

import type { ConfigField, DataFormat, DatasetInfo } from '../../../electron/shared/api'

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

/**
 * A picker option's text: the file name, and where it lies when another offered file has the same
 * name (the demo writes sft_train.jsonl once per size and seed).
 */
export function optionLabel(d: DatasetInfo, offered: readonly DatasetInfo[]): string {
  const twins = offered.filter((o) => o.name === d.name).length > 1
  return twins ? `${d.name} · ${d.path.slice(0, d.path.length - d.name.length - 1)}` : d.name
}
