// Stage `preferences`: a preference dataset recorded as a run. Importing reads a file in the HH,
// TRL or workbench format (streaming, .gz too), writes the normalised pairs as <run>/pairs.jsonl
// (workbench format, artifact kind 'preferences') and its statistics as <run>/stats.json. An
// annotation session from the app is a run of this stage too, whose pairs live in the store's
// annotation tables (core/tracking/annotations.ts) instead; core/data/preferences/dataset.ts
// reads either.
import fs from 'node:fs'
import path from 'node:path'
import type { ConfigField } from '../../config/schema'
import { Tokenizer } from '../../tokenizer'
import { readPreferenceFile } from '../../data/preferences/read'
import { PairWriter } from '../../data/preferences/output'
import { PreferenceStatsBuilder, formatPreferenceStats } from '../../data/preferences/stats'
import type { PreferenceFormat } from '../../data/preferences/detect'
import type { StageContext, StageDefinition, StageResult } from './types'

export const PAIRS_FILE = 'pairs.jsonl'
export const STATS_FILE = 'stats.json'

const FIELDS: ConfigField[] = [
  { key: 'data', type: 'path', required: true, group: 'data', help: 'Preference file: JSONL (or .jsonl.gz) in the HH-RLHF, TRL or workbench format.' },
  { key: 'format', type: 'enum', choices: ['auto', 'hh', 'trl', 'workbench'], default: 'auto', group: 'data', help: 'The file\'s format; auto decides from its first valid line.' },
  { key: 'skip_invalid', type: 'bool', default: false, group: 'data', help: 'Skip (and count) malformed lines instead of stopping at the first.' },
  { key: 'tokenizer', type: 'path', optional: true, group: 'data', help: 'A tokenizer.json: lengths are also reported in its tokens.' },
]

async function run(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult> {
  const file = config.data as string
  const tokenizer = typeof config.tokenizer === 'string' && config.tokenizer !== '' ? Tokenizer.load(config.tokenizer) : undefined
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
      { format: config.format as PreferenceFormat | 'auto', skipInvalid: config.skip_invalid as boolean },
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

export const preferencesStage: StageDefinition = {
  name: 'preferences',
  title: 'Preference dataset',
  description: 'Import human preference pairs (HH-RLHF, TRL or workbench JSONL) as a dataset for reward models.',
  fields: FIELDS,
  parentRoles: [],
  run,
}
