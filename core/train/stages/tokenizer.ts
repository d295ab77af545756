// Stage `tokenizer`: train a byte-level BPE tokenizer on a corpus. The artifact is the run's
// tokenizer.json (Hugging Face format), which pretraining can reuse with `tokenizer=<path>`.
import fs from 'node:fs'
import path from 'node:path'
import { Tokenizer } from '../../tokenizer'
import { listCorpusFiles, readCorpusDocuments } from '../../data'
import { newSkipReport } from '../../data/errors'
import type { ConfigField } from '../../config/schema'
import type { StageContext, StageDefinition, StageResult } from './types'

const FIELDS: ConfigField[] = [
  { key: 'data', type: 'string[]', pathKind: 'input', required: true, group: 'data', help: 'Text files (.txt, .md), JSONL with a "text" field, or folders of them.' },
  { key: 'vocab_size', type: 'int', default: 4096, min: 264, max: 1_000_000, group: 'tokenizer', help: 'Vocabulary size: 8 special tokens + 256 bytes + merges (fewer when the text runs out of pairs).' },
  { key: 'skip_invalid', type: 'bool', default: false, group: 'data', help: 'Skip (and count) malformed JSONL lines instead of stopping at the first.' },
  { key: 'out', type: 'path', pathKind: 'output', optional: true, group: 'output', help: 'Also write tokenizer.json here (the run folder always has one).' },
]

/** Reads every document of the corpus (files and folders), for tokenizer training. */
export function readCorpusTexts(paths: string[], skipInvalid: boolean): { texts: string[]; files: number; skipped: number } {
  const files = listCorpusFiles(paths)
  const skipped = newSkipReport()
  const texts: string[] = []
  for (const file of files) texts.push(...readCorpusDocuments(file, skipInvalid ? skipped : undefined))
  return { texts, files: files.length, skipped: skipped.count }
}

/** Trains a tokenizer on the corpus, saves it as <dir>/tokenizer.json and records it. */
export function trainTokenizerInto(ctx: StageContext, paths: string[], vocabSize: number, skipInvalid: boolean): { tokenizer: Tokenizer; file: string } {
  const corpus = readCorpusTexts(paths, skipInvalid)
  const chars = corpus.texts.reduce((n, t) => n + t.length, 0)
  ctx.log(`training a ${vocabSize}-token tokenizer on ${corpus.files} file(s), ${chars.toLocaleString('en-US')} characters`)
  const started = Date.now()
  const tokenizer = Tokenizer.train(corpus.texts, { vocabSize })
  const file = path.join(ctx.runDir, 'tokenizer.json')
  tokenizer.save(file)
  ctx.tracker.logArtifact({ kind: 'tokenizer', path: file, meta: { vocab_size: tokenizer.vocabSize } })
  ctx.log(`tokenizer: ${tokenizer.vocabSize} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${file}`)
  if (corpus.skipped > 0) ctx.tracker.logEvent('warning', `${corpus.skipped} invalid line(s) skipped`, { skipped: corpus.skipped })
  return { tokenizer, file }
}

async function run(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult> {
  const started = Date.now()
  const { tokenizer, file } = trainTokenizerInto(ctx, config.data as string[], config.vocab_size as number, config.skip_invalid as boolean)
  const summary: StageResult['summary'] = {
    vocab_size: tokenizer.vocabSize,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    tokenizer: file,
  }
  if (typeof config.out === 'string') {
    fs.mkdirSync(path.dirname(config.out), { recursive: true })
    fs.copyFileSync(file, config.out)
    summary.out = config.out
  }
  ctx.progress({ step: 1, totalSteps: 1 })
  return { summary }
}

export const tokenizerStage: StageDefinition = {
  name: 'tokenizer',
  title: 'Train a tokenizer',
  description: 'Byte-level BPE with the Llama 2 rules (digits split, byte fallback) and the chat special tokens.',
  fields: FIELDS,
  presets: { tiny: { vocab_size: 512 }, small: { vocab_size: 4096 } },
  parentRoles: [],
  run,
}
