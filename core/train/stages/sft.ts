// Stage `sft`: supervised fine-tuning (RECIPE.md section 2). Starts from a workbench checkpoint or
// an imported Hugging Face Llama folder (`base`, or a parent with role 'base'); trains on
// instruction data in any of the core/data formats (Alpaca, chat messages, ShareGPT,
// prompt/response), formatted with the chat template; the loss is on assistant tokens only.
import { z } from 'zod'
import { loadSftData, sequentialBatches, sftSource, type ChatLossOn, type SftData, type SftExample } from '../../data'
import { countParameters } from '../../model/config'
import { loadModel } from '../../model/load'
import type { Llama } from '../../model/llama'
import type { Tokenizer } from '../../tokenizer'
import { shuffledBatches, type Batch } from '../batches'
import { trainLoop } from '../loop'
import { parentCheckpoint, trainingFields, trainingSettings, type TrainingSettings } from './common'
import { precheckSft } from './precheck'
import { defineStage, type StageContext, type StageResult } from './types'
import { languageModelTask } from '../languageModel'
import { perplexityEvaluation } from '../../eval/perplexity'

/**
 * The data and training fields of supervised fine-tuning on chat files, with SFT's defaults: the
 * SFT stage adds its base and data; the stages that write their own chat data and fine-tune on it
 * (context distillation, Ghost Attention) add theirs.
 */
export function sftTrainingFields() {
  const training = trainingFields({ lr: 2e-5, warmup_steps: 10, max_steps: undefined, batch_size: 8, eval_every: 50, sample_every: 100, checkpoint_every: 100 })
  return z
    .object({
      seq_len: z.number().int().min(8).optional().meta({ group: 'data', help: 'Longest example in tokens (default: the base model\'s context).' }),
      overflow: z.enum(['truncate', 'drop']).default('truncate').meta({ group: 'data', help: 'Too-long examples: cut to seq_len (dropped if no answer token is left) or drop them. Both are counted.' }),
      skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed lines instead of stopping at the first.' }),
      val_fraction: z.number().min(0).max(0.5).default(0.1).meta({ group: 'data', help: 'Share of examples held out for validation loss.' }),
      epochs: z.number().min(0.01).default(2).meta({ group: 'schedule', help: 'Passes over the data (Llama 2: 2); sets max_steps unless max_steps is given.' }),
      ...training.shape,
      lr: training.shape.lr.meta({ group: 'optimiser', help: 'Peak learning rate. Llama 2 used 2e-5 at 7B; tiny models need far more (about 1e-3, see the tiny preset).' }),
    })
    .strict()
}

export type SftTrainingConfig = z.output<ReturnType<typeof sftTrainingFields>>

const schema = z
  .object({
    base: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model to fine-tune: a run id, a checkpoint folder, or an imported Hugging Face Llama folder.' }),
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', help: 'JSONL (or .json array) files: Alpaca, chat "messages", ShareGPT "conversations" or prompt/response; detected per line.' }),
    ...sftTrainingFields().shape,
  })
  .strict()

export type SftConfig = z.output<typeof schema>

/** Steps for `epochs` passes: each step consumes batch_size x grad_accum examples. */
export function stepsForEpochs(examples: number, epochs: number, s: Pick<TrainingSettings, 'batchSize' | 'gradAccum'>): number {
  return Math.max(1, Math.ceil((examples * epochs) / (s.batchSize * s.gradAccum)))
}

/** The prompt part of an example (everything up to and including the first assistant token). */
function promptOf(example: SftExample, tokenizer: Tokenizer): number[] | null {
  const at = example.tokens.indexOf(tokenizer.special.assistant)
  return at < 0 ? null : Array.from(example.tokens.subarray(0, at + 1))
}

function samplePromptsOf(data: SftData, tokenizer: Tokenizer, count: number): number[][] {
  const pool = data.val.length > 0 ? data.val : data.train
  return pool
    .map((ex) => promptOf(ex, tokenizer))
    .filter((p): p is number[] => p !== null)
    .slice(0, count)
}

function evalBatchesOf(data: SftData, seqLen: number, padId: number, s: TrainingSettings): Batch[] {
  if (data.val.length === 0) return []
  return [...sequentialBatches(sftSource(data.val, seqLen, padId), s.batchSize)].slice(0, s.evalBatches)
}

async function run(ctx: StageContext, config: SftConfig): Promise<StageResult> {
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('sft needs a base model: set base=<run id or checkpoint folder> (or give a parent with role "base")')
  const { model, tokenizer } = loadModel(baseDir, { maxSeqLen: config.seq_len })
  try {
    return await fineTuneOnChatFiles(ctx, { model, tokenizer, baseDir, files: config.data, config, stage: 'sft', runConfig: config })
  } finally {
    model.dispose()
  }
}

export interface ChatFineTune {
  model: Llama
  tokenizer: Tokenizer
  /** Where the model came from (logged). */
  baseDir: string
  /** Chat files in any SFT format (read with loadSftData). */
  files: string[]
  config: SftTrainingConfig
  /** Which assistant turns carry loss (default all; Ghost Attention: the last only). */
  lossOn?: ChatLossOn
  /** Stored with every checkpoint. */
  stage: string
  runConfig: Record<string, unknown>
}

/**
 * Fine-tunes `model` in place on chat files with the language-model loss on assistant tokens:
 * SFT itself, and the stages that write their own chat data first (context distillation, GAtt).
 * Returns the stage result (best checkpoint and summary); the caller disposes the model.
 */
export async function fineTuneOnChatFiles(ctx: StageContext, job: ChatFineTune): Promise<StageResult> {
  const started = Date.now()
  const { model, tokenizer, config } = job
  const seqLen = config.seq_len ?? model.config.max_seq_len
  const data = loadSftData({
    paths: job.files,
    tokenizer,
    seqLen,
    overflow: config.overflow,
    skipInvalid: config.skip_invalid,
    valFraction: config.val_fraction,
    lossOn: job.lossOn,
  })
  const base = trainingSettings(config, 1)
  const maxSteps = config.max_steps ?? stepsForEpochs(data.train.length, config.epochs, base)
  const s = trainingSettings(config, maxSteps)
  const st = data.stats
  ctx.tracker.logParams({ n_params: countParameters(model.config), train_examples: data.train.length, val_examples: data.val.length })
  ctx.log(
    `base ${job.baseDir}; ${st.examples} examples (${data.train.length} train / ${data.val.length} validation), ` +
      `${st.trainableTokens.toLocaleString('en-US')} trainable tokens; ${st.truncated} truncated, ${st.dropped} dropped, ` +
      `${st.skipped.count} skipped; ${maxSteps} steps`,
  )
  if (st.truncated + st.dropped + st.skipped.count > 0) {
    ctx.tracker.logEvent('warning', `${st.truncated} example(s) truncated, ${st.dropped} dropped, ${st.skipped.count} invalid skipped`, st)
  }
  const task = languageModelTask(model)
  const result = await trainLoop({
    ctx,
    model,
    tokenizer,
    settings: s,
    train: shuffledBatches(sftSource(data.train, seqLen, tokenizer.special.pad), s.batchSize, s.seed),
    task,
    evaluate: perplexityEvaluation(evalBatchesOf(data, seqLen, tokenizer.special.pad, s), task),
    samplePrompts: samplePromptsOf(data, tokenizer, s.sampleCount),
    dataPaths: job.files,
    stage: job.stage,
    runConfig: job.runConfig,
  })
  return {
    stopped: result.stopped,
    checkpointDir: result.bestCheckpointDir,
    summary: {
      steps: result.step,
      train_loss: result.trainLoss,
      ...(result.lastEval ? { eval_loss: result.lastEval.loss, eval_perplexity: result.lastEval.perplexity } : {}),
      examples: st.examples,
      truncated: st.truncated,
      dropped: st.dropped,
      skipped_invalid: st.skipped.count,
      tokens_per_s: Math.round(result.unitsPerSec),
      seconds: Math.round((Date.now() - started) / 100) / 10,
    },
  }
}

export const sftStage = defineStage({
  name: 'sft',
  title: 'Supervised fine-tuning',
  description:
    'Fine-tune a checkpoint on instructions with the chat template; only assistant tokens carry loss. ' +
    'Defaults follow Llama 2 (lr 2e-5, 2 epochs); tiny models need a higher lr (use --preset tiny).',
  schema,
  presets: {
    tiny: { lr: 1e-3, batch_size: 8, epochs: 10, warmup_steps: 10 },
    small: { lr: 3e-4, batch_size: 8, epochs: 4, warmup_steps: 20 },
  },
  parents: [{ role: 'base', key: 'base', required: true }],
  cli: {
    command: 'sft',
    summary: 'sft --base <run|checkpoint> --data <f>  supervised fine-tuning on instructions',
    usage: [
      'Usage: workbench sft --base <run|checkpoint> --data <file.jsonl> [--data ...] [options]',
      '',
      '--base is a pretraining (or SFT) run id, a workbench checkpoint folder, or an imported Hugging Face',
      'Llama folder (see `workbench import-hf`). Formats, detected per line: Alpaca (instruction/input/output),',
      'chat "messages", ShareGPT "conversations", prompt/response. The loss is on assistant tokens only.',
    ].join('\n'),
    flags: { base: 'base', data: 'data' },
  },
  precheck: (config) => precheckSft(config.data, config.skip_invalid),
  run,
})
