// The kinds of data file a stage reads, with no imports: the config schema (and so the renderer's
// forms) names them, core/data/inspect.ts tells them apart.

/** What a stage's data field reads (declared on the field with `.meta({ data })`). */
export const DATA_FORMATS = ['text', 'sft', 'preferences', 'prompts'] as const
export type DataFormat = (typeof DATA_FORMATS)[number]

export const DATA_FORMAT_LABELS: Record<DataFormat, string> = {
  text: 'text corpus',
  sft: 'SFT conversations',
  preferences: 'preference pairs',
  prompts: 'prompt set',
}
