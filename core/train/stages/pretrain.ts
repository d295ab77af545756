// Stage `pretrain`: train a Llama from scratch on the user's text (RECIPE.md section 1), or
// continue pretraining a checkpoint at a longer context (`init_from` + a larger seq_len; the new
// run's parent is the shorter-context run).
//
// Data: files, folders, JSONL `text`; tokenised once and cached in <home>/cache; packed into
// windows of seq_len + 1 tokens; an evenly spread share held out for validation.
// Without `tokenizer`, a tokenizer is trained on the data first (artifact tokenizer.json).
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { loadPretrainData, sequentialBatches, windowSource, type PretrainData } from '../../data'
import { MODEL_PRESETS, countParameters, resolveModelConfig, type LlamaConfig } from '../../model/config'
import { trainingMemory } from '../memoryEstimate'
import { Llama } from '../../model/llama'
import { loadModel } from '../../model/load'
import { Tokenizer } from '../../tokenizer'
import { shuffledBatches, type Batch } from '../batches'
import { trainLoop } from '../loop'
import { wholeWordPrompt } from '../samplePrompts'
import { threadPlan } from '../parallel/threads'
import { loadFastGemm } from '../../backend/kernels/nativeMatMul'
import { parentCheckpoint, trainingFields, trainingSettings, type TrainingSettings } from './common'
import { languageModelTask } from '../languageModel'
import { perplexityEvaluation } from '../../eval/perplexity'
import { trainTokenizerInto } from './tokenizer'
import { precheckCorpus, readHead } from './precheck'
import { defineStage, type StageContext, type StageEstimate, type StageResult } from './types'

const int = (min: number) => z.number().int().min(min)

const schema = z
  .object({
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', data: 'text', help: 'Text files (.txt, .md), JSONL with a "text" field, or folders of them.' }),
    tokenizer: z.string().optional().meta({ group: 'data', path: 'input', help: 'A tokenizer.json (or a folder with one). Absent: train one on the data.' }),
    vocab_size: int(264).optional().meta({ group: 'data', help: 'Vocabulary when training a tokenizer (default: the model preset\'s, 512 tiny / 4096 small).' }),
    tokenizer_style: z.enum(['bytelevel', 'llama']).default('bytelevel').meta({ group: 'data', help: 'Style when training a tokenizer: bytelevel (GPT-2-like) or llama (SentencePiece BPE, also saved as tokenizer.model).' }),
    val_fraction: z.number().min(0).max(0.5).default(0.05).meta({ group: 'data', help: 'Share of windows held out for validation (at least one).' }),
    skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed JSONL lines instead of stopping at the first.' }),
    init_from: z.string().optional().meta({ group: 'model', path: 'model', help: 'Continue from this run id or checkpoint folder (its model and tokenizer), e.g. at a longer seq_len.' }),
    model: z.enum(['tiny', 'small']).default('tiny').meta({ group: 'model', help: 'Model shape preset: tiny (~1M parameters) or small (~8.3M with its 4k vocabulary; the shape of llama2.c stories15M).' }),
    dim: int(8).optional().meta({ group: 'model', help: 'Model width (overrides the preset).' }),
    n_layers: int(1).optional().meta({ group: 'model', help: 'Transformer blocks (overrides the preset).' }),
    n_heads: int(1).optional().meta({ group: 'model', help: 'Attention heads (overrides the preset).' }),
    n_kv_heads: int(1).optional().meta({ group: 'model', help: 'Key/value heads for grouped-query attention; must divide n_heads.' }),
    hidden_dim: int(1).optional().meta({ group: 'model', help: 'SwiGLU width (default: 2/3 * 4 * dim rounded up).' }),
    seq_len: int(8).optional().meta({ group: 'model', help: 'Training context length (default: the preset\'s, 128 tiny / 256 small). Larger than init_from\'s = context extension.' }),
    ...trainingFields({ lr: 1e-3, warmup_steps: 50, max_steps: 600, batch_size: 16, eval_every: 100, sample_every: 200, checkpoint_every: 200 }).shape,
  })
  .strict()
  // The model these fields describe must be a valid Llama (dim divisible by n_heads, ...): an
  // error now, before a tokenizer is trained or a run recorded.
  .superRefine((config, ctx) => {
    if (config.init_from) return // the checkpoint decides the shape
    try {
      modelConfigFor(config, vocabOf(config))
    } catch (error) {
      for (const problem of modelProblems(error as Error)) ctx.addIssue({ code: 'custom', path: [problem.key], message: problem.message })
    }
  })

export type PretrainConfig = z.output<typeof schema>

/** The config key behind each LlamaConfig key that resolveModelConfig may complain about. */
const MODEL_KEYS: Record<string, string> = {
  dim: 'dim',
  n_layers: 'n_layers',
  n_heads: 'n_heads',
  n_kv_heads: 'n_kv_heads',
  hidden_dim: 'hidden_dim',
  head_dim: 'dim',
  vocab_size: 'vocab_size',
  max_seq_len: 'seq_len',
}

/** The lines of resolveModelConfig's error, each under the config key it names first. */
function modelProblems(error: Error): { key: string; message: string }[] {
  const lines = error.message.split('\n').filter((l) => l.trim().startsWith('- '))
  if (lines.length === 0) return [{ key: 'model', message: error.message }]
  return lines.map((line) => {
    const text = line.trim().slice(2)
    const first = text.split(' ')[0]
    return { key: MODEL_KEYS[first] ?? 'model', message: text }
  })
}

/** The vocabulary the model will have: vocab_size, else the preset's (a given tokenizer decides at run time). */
function vocabOf(config: Pick<PretrainConfig, 'model' | 'vocab_size'>): number {
  return config.vocab_size ?? MODEL_PRESETS[config.model].vocab_size
}

type ModelFields = Pick<PretrainConfig, 'model' | 'dim' | 'n_layers' | 'n_heads' | 'n_kv_heads' | 'hidden_dim' | 'seq_len'>

/** The model config from the preset, the explicit fields and the tokenizer's vocabulary. */
export function modelConfigFor(config: ModelFields, vocabSize: number): LlamaConfig {
  const preset = MODEL_PRESETS[config.model]
  const changesShape = config.dim !== undefined || config.n_heads !== undefined
  const given = (key: 'n_layers' | 'n_heads' | 'n_kv_heads' | 'hidden_dim') => (config[key] !== undefined ? { [key]: config[key] } : {})
  return resolveModelConfig({
    ...preset,
    // A changed width needs its own SwiGLU width unless one is given.
    ...(changesShape && config.hidden_dim === undefined ? { hidden_dim: undefined } : {}),
    ...(config.n_heads !== undefined && config.n_kv_heads === undefined ? { n_kv_heads: config.n_heads } : {}),
    dim: config.dim ?? preset.dim,
    ...given('n_layers'),
    ...given('n_heads'),
    ...given('n_kv_heads'),
    ...given('hidden_dim'),
    vocab_size: vocabSize,
    max_seq_len: config.seq_len ?? preset.max_seq_len,
  })
}

/** Parameters and training memory of the model the config describes (what the app's form shows). */
function estimate(config: PretrainConfig): StageEstimate {
  const notes: string[] = []
  if (config.init_from) notes.push("init_from is set: the model will be the checkpoint's, whatever these fields say")
  if (config.tokenizer) notes.push(`vocabulary assumed ${vocabOf(config)}: the given tokenizer decides`)
  const model = modelConfigFor(config, vocabOf(config))
  const batch = config.batch_size
  // As the loop will run it on the CPU backends (core/train/loop.ts).
  const plan = threadPlan(config.threads, config.thread_mode, 'wasm', batch, loadFastGemm() !== null, true)
  notes.push(
    plan.workers > 0
      ? `${plan.threads} threads as gradient workers (${plan.workers} extra model ${plan.workers === 1 ? 'copy' : 'copies'})`
      : plan.threads > 1
        ? `${plan.threads} threads inside the native matmul (one model copy)`
        : 'one thread',
  )
  return trainingMemory(model, { batch, seq: config.seq_len ?? model.max_seq_len, threads: plan }, notes)
}

function precheck(config: PretrainConfig): void {
  if (config.tokenizer) readHead(fs.existsSync(config.tokenizer) && fs.statSync(config.tokenizer).isDirectory() ? path.join(config.tokenizer, 'tokenizer.json') : config.tokenizer)
  precheckCorpus(config.data, config.skip_invalid)
}

function resolveTokenizer(ctx: StageContext, config: PretrainConfig): Tokenizer {
  if (config.tokenizer !== undefined) return Tokenizer.load(config.tokenizer)
  return trainTokenizerInto(ctx, config.data, vocabOf(config), config.skip_invalid, config.tokenizer_style).tokenizer
}

/** The first batches of the validation windows: the same every evaluation. */
function evalBatchesOf(data: PretrainData, s: TrainingSettings): Batch[] {
  const out: Batch[] = []
  for (const batch of sequentialBatches(windowSource(data.val), s.batchSize)) {
    if (out.length >= s.evalBatches) break
    out.push(batch)
  }
  return out
}

/** Sample prompts: about 8 tokens of a few validation windows, whole words only (samplePrompts.ts). */
function samplePromptsOf(data: PretrainData, tokenizer: Tokenizer, count: number): number[][] {
  const prompts: number[][] = []
  const { tokens, starts } = data.val
  const decode = (ids: number[]) => tokenizer.decode(ids)
  for (let i = 0; i < Math.min(count, starts.length); i++) {
    prompts.push(wholeWordPrompt(Array.from(tokens.subarray(starts[i], starts[i] + 24)), decode, 8))
  }
  return prompts
}

async function run(ctx: StageContext, config: PretrainConfig): Promise<StageResult> {
  const started = Date.now()
  const s = trainingSettings(config)
  const initDir = parentCheckpoint(ctx, 'continue', config.init_from, 'init_from')
  let model: Llama
  let tokenizer: Tokenizer
  if (initDir) {
    const loaded = loadModel(initDir, { maxSeqLen: config.seq_len })
    model = loaded.model
    tokenizer = loaded.tokenizer
    ctx.log(`continuing from ${initDir} at context ${model.config.max_seq_len}`)
  } else {
    tokenizer = ctx.resumeFrom ? Tokenizer.load(path.join(ctx.resumeFrom, 'tokenizer.json')) : resolveTokenizer(ctx, config)
    model = Llama.create(modelConfigFor(config, tokenizer.vocabSize), s.seed)
  }
  const seqLen = config.seq_len ?? model.config.max_seq_len
  if (seqLen > model.config.max_seq_len) throw new Error(`seq_len ${seqLen} is larger than the model's max_seq_len ${model.config.max_seq_len}`)
  try {
    const data = loadPretrainData({
      paths: config.data,
      tokenizer,
      seqLen,
      valFraction: config.val_fraction,
      cacheDir: path.join(ctx.home, 'cache'),
      skipInvalid: config.skip_invalid,
    })
    const nParams = countParameters(model.config)
    ctx.tracker.logParams({ n_params: nParams, vocab_size: model.config.vocab_size, seq_len: seqLen, train_tokens: data.stats.tokens })
    ctx.log(
      `model ${nParams.toLocaleString('en-US')} parameters; data ${data.stats.tokens.toLocaleString('en-US')} tokens in ` +
        `${data.stats.documents} document(s), ${data.stats.trainWindows} train / ${data.stats.valWindows} validation windows` +
        (data.stats.cached ? ' (from cache)' : ''),
    )
    if (data.stats.skipped.count > 0) {
      ctx.tracker.logEvent('warning', `${data.stats.skipped.count} invalid line(s) skipped`, data.stats.skipped)
    }
    const task = languageModelTask(model)
    const result = await trainLoop({
      ctx,
      model,
      tokenizer,
      settings: s,
      train: shuffledBatches(windowSource(data.train), s.batchSize, s.seed),
      task,
      evaluate: perplexityEvaluation(evalBatchesOf(data, s), task),
      samplePrompts: samplePromptsOf(data, tokenizer, s.sampleCount),
      dataPaths: config.data as string[],
      stage: 'pretrain',
      runConfig: config,
    })
    return {
      stopped: result.stopped,
      checkpointDir: result.bestCheckpointDir,
      summary: {
        steps: result.step,
        train_loss: result.trainLoss,
        ...(result.lastEval ? { eval_loss: result.lastEval.loss, eval_perplexity: result.lastEval.perplexity } : {}),
        tokens_seen: result.unitsSeen,
        tokens_per_s: Math.round(result.unitsPerSec),
        n_params: nParams,
        seq_len: seqLen,
        skipped_batches: result.skippedBatches,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
    }
  } finally {
    model.dispose()
  }
}

export const pretrainStage = defineStage({
  name: 'pretrain',
  title: 'Pretrain',
  description:
    'Train a small Llama (RMSNorm, RoPE, SwiGLU, GQA) from scratch on your text with AdamW, warmup + cosine ' +
    'decay, gradient clipping and a bad-batch guard. lr defaults suit the tiny preset (1e-3); Llama 2 used 3e-4 at 7B.',
  schema,
  presets: {
    tiny: { model: 'tiny', lr: 1e-3, batch_size: 16, max_steps: 600, warmup_steps: 50 },
    small: { model: 'small', lr: 6e-4, batch_size: 16, max_steps: 2000, warmup_steps: 100 },
  },
  parents: [{ role: 'continue', key: 'init_from' }],
  cli: {
    command: 'pretrain',
    summary: 'pretrain --data <file|folder>          pretrain a small Llama (tiny preset by default)',
    usage: [
      'Usage: workbench pretrain --data <file|folder> [--data ...] [--tokenizer tokenizer.json] [--model tiny|small]',
      '                          [--from <run|checkpoint> --set seq_len=256] [options]',
      '',
      'Without --tokenizer, a tokenizer is trained on the data first. Without --model, the tiny preset.',
    ].join('\n'),
    flags: { data: 'data', tokenizer: 'tokenizer', model: 'model', from: 'init_from' },
  },
  estimate,
  precheck,
  run,
})
