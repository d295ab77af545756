// The training data of a run, rewritten as JSONL in the format a cluster engine reads:
//   TRL: {"messages": [...]} (SFT), {"text": ...} (pretraining), {"prompt": [...], "chosen": [...],
//        "rejected": [...]} (reward model, DPO; conversational preference format), {"prompt": [...]} (PPO)
//   LLaMA-Factory: sharegpt-style {"messages": [...]} with a dataset_info.json entry that names
//        the columns and role tags; preference data with "ranking": true; pretraining {"text": ...}
import fs from 'node:fs'
import path from 'node:path'
import { corpusTexts } from '../data/corpus'
import { readPreferencePairs } from '../data/preferences'
import { recordValue, readRecords } from '../data/records'
import { parseSftRecord } from '../data/sft'
import type { JobStage } from './targets/common'

export type JobTarget = 'trl' | 'llamafactory'

function dataFiles(config: Record<string, unknown>, key: string): string[] {
  const value = config[key]
  const files = Array.isArray(value) ? value : typeof value === 'string' ? [value] : []
  if (files.length === 0) throw new Error(`export-job: the run's config has no "${key}" files to convert`)
  for (const f of files) if (!fs.existsSync(f)) throw new Error(`export-job: data file ${f} (config "${key}") no longer exists`)
  return files as string[]
}

/** One JSON object per example, in the target's format. */
export function jobRecords(stage: JobStage, config: Record<string, unknown>, target: JobTarget): object[] {
  if (stage === 'pretrain') return [...corpusTexts(dataFiles(config, 'data'))].map((text) => ({ text }))
  if (stage === 'sft') {
    return dataFiles(config, 'data').flatMap((file) => readRecords(file).map((r) => ({ messages: parseSftRecord(recordValue(r), r.where).messages })))
  }
  if (stage === 'reward' || stage === 'dpo') {
    return dataFiles(config, 'data').flatMap((file) =>
      readPreferencePairs(file).pairs.map((p) =>
        target === 'trl'
          ? { prompt: p.messages, chosen: [{ role: 'assistant', content: p.chosen }], rejected: [{ role: 'assistant', content: p.rejected }] }
          : { messages: p.messages, chosen: { role: 'assistant', content: p.chosen }, rejected: { role: 'assistant', content: p.rejected } },
      ),
    )
  }
  // PPO: prompts only; the engine samples the answers.
  return dataFiles(config, 'prompts').flatMap((file) =>
    readRecords(file).map((r) => {
      const value = recordValue(r)
      const prompt = typeof value.prompt === 'string' ? value.prompt : undefined
      if (!prompt) throw new Error(`${file}: a PPO prompt record needs a "prompt" string`)
      return target === 'trl' ? { prompt: [{ role: 'user', content: prompt }] } : { messages: [{ role: 'user', content: prompt }] }
    }),
  )
}

/** LLaMA-Factory's dataset_info.json entry for the file we write. */
export function llamafactoryDatasetInfo(stage: JobStage, file: string): Record<string, unknown> {
  if (stage === 'pretrain') return { file_name: file, columns: { prompt: 'text' } }
  const tags = { role_tag: 'role', content_tag: 'content', user_tag: 'user', assistant_tag: 'assistant', system_tag: 'system' }
  if (stage === 'reward' || stage === 'dpo') {
    return { file_name: file, formatting: 'sharegpt', ranking: true, columns: { messages: 'messages', chosen: 'chosen', rejected: 'rejected' }, tags }
  }
  return { file_name: file, formatting: 'sharegpt', columns: { messages: 'messages' }, tags }
}

export function writeJsonl(file: string, records: object[]): void {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r)).join('\n') + '\n')
}
