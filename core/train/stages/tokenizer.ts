// Stage `tokenizer`: train a BPE tokenizer on a corpus (byte-level, or Llama 2's SentencePiece style). The artifact is the run's
// tokenizer.json (Hugging Face format), which pretraining can reuse with `tokenizer=<path>`.
import fs from 'node:fs'
import path from 'node:path'
import { Tokenizer, type TokenizerStyle } from '../../tokenizer'
import { listCorpusFiles, readCorpusDocuments } from '../../data'
import { newSkipReport } from '../../data/errors'
import { z } from 'zod'
import { precheckCorpus } from './precheck'
import { defineStage, type StageContext, type StageResult } from './types'

const schema = z
  .object({
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', data: 'text', help: 'Text files (.txt, .md), JSONL with a "text" field, or folders of them.' }),
    vocab_size: z.number().int().min(264).max(1_000_000).default(4096).meta({
      group: 'tokenizer',
      help: 'Vocabulary size: 8 special tokens + 256 bytes + merges (fewer when the text runs out of pairs).',
    }),
    style: z.enum(['bytelevel', 'llama']).default('bytelevel').meta({
      group: 'tokenizer',
      help: 'bytelevel: GPT-2-style byte-level BPE. llama: Llama 2\'s SentencePiece BPE ("▁" word marker, byte fallback at ids 3..258), also saved as tokenizer.model.',
    }),
    skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed JSONL lines instead of stopping at the first.' }),
    out: z.string().optional().meta({ group: 'output', path: 'output', help: 'Also write tokenizer.json here (the run folder always has one).' }),
  })
  .strict()

type TokenizerConfig = z.output<typeof schema>

/** Reads every document of the corpus (files and folders), for tokenizer training. */
export function readCorpusTexts(paths: string[], skipInvalid: boolean): { texts: string[]; files: number; skipped: number } {
  const files = listCorpusFiles(paths)
  const skipped = newSkipReport()
  const texts: string[] = []
  for (const file of files) texts.push(...readCorpusDocuments(file, skipInvalid ? skipped : undefined))
  return { texts, files: files.length, skipped: skipped.count }
}

/** Trains a tokenizer on the corpus, saves it as <dir>/tokenizer.json (+ tokenizer.model for the llama style) and records it. */
export function trainTokenizerInto(ctx: StageContext, paths: string[], vocabSize: number, skipInvalid: boolean, style: TokenizerStyle = 'bytelevel'): { tokenizer: Tokenizer; file: string } {
  const corpus = readCorpusTexts(paths, skipInvalid)
  const chars = corpus.texts.reduce((n, t) => n + t.length, 0)
  ctx.log(`training a ${vocabSize}-token ${style} tokenizer on ${corpus.files} file(s), ${chars.toLocaleString('en-US')} characters`)
  const started = Date.now()
  const tokenizer = Tokenizer.train(corpus.texts, { vocabSize, style })
  const file = path.join(ctx.runDir, 'tokenizer.json')
  tokenizer.save(file)
  // Llama style: also SentencePiece's own file, for tools that read tokenizer.model (llama2.c, sentencepiece).
  if (style === 'llama') tokenizer.saveSentencePiece(path.join(ctx.runDir, 'tokenizer.model'))
  ctx.tracker.logArtifact({ kind: 'tokenizer', path: file, meta: { vocab_size: tokenizer.vocabSize, style } })
  ctx.log(`tokenizer: ${tokenizer.vocabSize} tokens in ${((Date.now() - started) / 1000).toFixed(1)} s -> ${file}`)
  if (corpus.skipped > 0) ctx.tracker.logEvent('warning', `${corpus.skipped} invalid line(s) skipped`, { skipped: corpus.skipped })
  return { tokenizer, file }
}

async function run(ctx: StageContext, config: TokenizerConfig): Promise<StageResult> {
  const started = Date.now()
  const { tokenizer, file } = trainTokenizerInto(ctx, config.data, config.vocab_size, config.skip_invalid, config.style)
  const summary: StageResult['summary'] = {
    vocab_size: tokenizer.vocabSize,
    seconds: Math.round((Date.now() - started) / 100) / 10,
    tokenizer: file,
  }
  if (config.out !== undefined) {
    fs.mkdirSync(path.dirname(config.out), { recursive: true })
    fs.copyFileSync(file, config.out)
    summary.out = config.out
  }
  ctx.progress({ step: 1, totalSteps: 1 })
  return { summary }
}

export const tokenizerStage = defineStage({
  name: 'tokenizer',
  title: 'Train a tokenizer',
  description: 'BPE with the Llama 2 rules (digits split, byte fallback) and the chat special tokens: GPT-2-style byte-level, or Llama 2\'s SentencePiece style (style=llama).',
  schema,
  presets: { tiny: { vocab_size: 512 }, small: { vocab_size: 4096 } },
  cli: {
    command: 'tokenizer train',
    summary: 'tokenizer train --data <file|folder>   train a BPE tokenizer',
    usage: [
      'Usage: workbench tokenizer train --data <file|folder> [--data ...] [--vocab-size N] [--out tokenizer.json] [options]',
      '',
      'Trains a byte-level BPE tokenizer (digits split, byte fallback, chat special tokens), recorded as a run;',
      'its tokenizer.json is in the run folder, and also at --out when given.',
    ].join('\n'),
    flags: { data: 'data', 'vocab-size': 'vocab_size', style: 'style', out: 'out' },
  },
  precheck: (config) => precheckCorpus(config.data, config.skip_invalid),
  run,
})
