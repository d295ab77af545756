// Stage `preferences`: a preference dataset recorded as a run. Importing reads a file in the HH,
// TRL or workbench format (streaming, .gz too), writes the normalised pairs as <run>/pairs.jsonl
// (workbench format, artifact kind 'preferences') and its statistics as <run>/stats.json. An
// annotation session from the app is a run of this stage too, whose pairs live in the store's
// annotation tables (core/tracking/annotations.ts) instead; core/data/preferences/dataset.ts
// reads either.
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { Tokenizer } from '../../tokenizer'
import { readPreferenceFile } from '../../data/preferences/read'
import { PairWriter } from '../../data/preferences/output'
import { PreferenceStatsBuilder, formatPreferenceStats } from '../../data/preferences/stats'
import type { PreferenceFormat } from '../../data/preferences/detect'
import { readHead } from './precheck'
import { defineStage, type StageContext, type StageResult } from './types'

export const PAIRS_FILE = 'pairs.jsonl'
export const STATS_FILE = 'stats.json'

const schema = z
  .object({
    data: z.string().meta({ group: 'data', path: 'input', data: 'preferences', help: 'Preference file: JSONL (or .jsonl.gz) in the HH-RLHF, TRL or workbench format.' }),
    format: z.enum(['auto', 'hh', 'trl', 'workbench']).default('auto').meta({ group: 'data', help: 'The file\'s format; auto decides from its first valid line.' }),
    skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed lines instead of stopping at the first.' }),
    tokenizer: z.string().optional().meta({ group: 'data', path: 'input', help: 'A tokenizer.json: lengths are also reported in its tokens.' }),
  })
  .strict()

type PreferencesConfig = z.output<typeof schema>

async function run(ctx: StageContext, config: PreferencesConfig): Promise<StageResult> {
  const file = config.data
  const tokenizer = config.tokenizer !== undefined && config.tokenizer !== '' ? Tokenizer.load(config.tokenizer) : undefined
  const stats = new PreferenceStatsBuilder(tokenizer ? (text) => tokenizer.encode(text).length : undefined)
  const pairsFile = path.join(ctx.runDir, PAIRS_FILE)
  const writer = new PairWriter(pairsFile, 'workbench')
  ctx.log(`importing preference pairs from ${file}`)
  let result
  try {
    result = await readPreferenceFile(
      file,
      (pair) => {
        writer.write(pair)
        stats.add(pair)
        if (writer.count % 10_000 === 0) ctx.progress({ step: writer.count, totalSteps: 0, message: `${writer.count} pairs` })
      },
      { format: config.format as PreferenceFormat | 'auto', skipInvalid: config.skip_invalid },
    )
  } finally {
    writer.close()
  }
  const summary = stats.finish(result.skipped.count)
  const statsFile = path.join(ctx.runDir, STATS_FILE)
  fs.writeFileSync(statsFile, JSON.stringify({ format: result.format, source: file, ...summary }, null, 2) + '\n')
  ctx.tracker.logArtifact({ kind: 'preferences', path: pairsFile, meta: { pairs: summary.pairs, format: result.format, source: file } })
  ctx.tracker.logArtifact({ kind: 'preference_stats', path: statsFile })
  ctx.tracker.logParams({ pairs: summary.pairs, format: result.format, skipped: result.skipped.count })
  if (result.skipped.count > 0) ctx.tracker.logEvent('warning', `${result.skipped.count} invalid line(s) skipped`, result.skipped)
  for (const line of formatPreferenceStats(summary)) ctx.log(line)
  ctx.progress({ step: summary.pairs, totalSteps: summary.pairs })
  return {
    summary: {
      pairs: summary.pairs,
      format: result.format,
      skipped: result.skipped.count,
      multi_turn: summary.pairs - (summary.turns['1'] ?? 0),
      prompt_chars_p50: summary.chars.prompt.p50,
      chosen_chars_p50: summary.chars.chosen.p50,
      rejected_chars_p50: summary.chars.rejected.p50,
      pairs_file: pairsFile,
    },
  }
}

export const preferencesStage = defineStage({
  name: 'preferences',
  title: 'Preference dataset',
  description: 'Import human preference pairs (HH-RLHF, TRL or workbench JSONL) as a dataset for reward models.',
  schema,
  cli: {
    command: 'prefs import',
    summary: 'prefs import FILE [--format auto|hh|trl]  record a preference file as a dataset',
    usage: [
      'Usage: workbench prefs import FILE [--format auto|hh|trl|workbench] [--name NAME] [--skip-invalid] [--tokenizer tokenizer.json] [--json]',
      '',
      'Reads a preference file (JSONL, or .jsonl.gz) and records it as a dataset (a run of stage preferences):',
      '  hh         Anthropic HH-RLHF: {"chosen": "\\n\\nHuman: ...\\n\\nAssistant: ...", "rejected": "..."}',
      '  trl        TRL: prompt/chosen/rejected as strings or message lists, optional margin, score_chosen/score_rejected',
      '  workbench  prompt/chosen/rejected (+ messages, rating, safety), what `prefs export` writes',
      'Prints pairs, turns, length percentiles, ratings and safety labels. Use the printed run id with',
      '`workbench prefs export` or as the data of a reward model.',
    ].join('\n'),
    positional: 'data',
    flags: { format: 'format', 'skip-invalid': 'skip_invalid', tokenizer: 'tokenizer' },
  },
  // The first lines must be readable; the format is decided (and every line checked) by the run.
  precheck: (config) => void readHead(config.data),
  run,
})
