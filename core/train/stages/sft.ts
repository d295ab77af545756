// Stage `sft`: supervised fine-tuning (RECIPE.md section 2). Starts from a workbench checkpoint or
// an imported Hugging Face Llama folder (`base`, or a parent with role 'base'); trains on
// instruction data in any of the core/data formats (Alpaca, chat messages, ShareGPT,
// prompt/response), formatted with the chat template; the loss is on assistant tokens only.
import { z } from 'zod'
import { loadSftData, sequentialBatches, sftSource, type ChatLossOn, type SftData, type SftExample } from '../../data'
import { countParameters } from '../../model/config'
import { loadModel } from '../../model/load'
import type { Tokenizer } from '../../tokenizer'
import type { Llama } from '../../model/llama'
import { shuffledBatches, type Batch } from '../batches'
import { trainLoop, type LoopResult } from '../loop'
import { parentCheckpoint, trainingFields, trainingSettings, type TrainingSettings } from './common'
import { precheckSft } from './precheck'
import { defineStage, type StageContext, type StageResult } from './types'
import { languageModelTask } from '../languageModel'
import { perplexityEvaluation } from '../../eval/perplexity'
import { finetuningEstimate, finetuningShape, prepareFinetuning } from './finetuning'

const training = trainingFields({ lr: 2e-5, warmup_steps: 10, max_steps: undefined, batch_size: 8, eval_every: 50, sample_every: 100, checkpoint_every: 100 })

/**
 * The fine-tuning fields SFT shares with rejection sampling (which fine-tunes on its kept answers
 * the same way): the chat data's length rules, the validation split, epochs and the training loop.
 */
export const chatFineTuneShape = {
  seq_len: z.number().int().min(8).optional().meta({ group: 'data', help: 'Longest example in tokens (default: the base model\'s context).' }),
  overflow: z.enum(['truncate', 'drop']).default('truncate').meta({ group: 'data', help: 'Too-long examples: cut to seq_len (dropped if no answer token is left) or drop them. Both are counted.' }),
  skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed lines instead of stopping at the first.' }),
  val_fraction: z.number().min(0).max(0.5).default(0.1).meta({ group: 'data', help: 'Share of examples held out for validation loss.' }),
  epochs: z.number().min(0.01).default(2).meta({ group: 'schedule', help: 'Passes over the data (Llama 2: 2); sets max_steps unless max_steps is given.' }),
  ...training.shape,
  lr: training.shape.lr.meta({ group: 'optimiser', help: 'Peak learning rate. Llama 2 used 2e-5 at 7B; tiny models need far more (about 1e-3, see the tiny preset).' }),
  ...finetuningShape,
}

/**
 * The same fields as one strict object, for the stages that write their own chat data and
 * fine-tune on it (context distillation, Ghost Attention) and spread its shape into theirs.
 */
export function sftTrainingFields() {
  return z.object(chatFineTuneShape).strict()
}

const schema = z
  .object({
    base: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model to fine-tune: a run id, a checkpoint folder, or an imported Hugging Face Llama folder.' }),
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', data: 'sft', help: 'JSONL (or .json array) files: Alpaca, chat "messages", ShareGPT "conversations" or prompt/response; detected per line.' }),
    ...chatFineTuneShape,
  })
  .strict()

export type SftConfig = z.output<typeof schema>

/** What `fineTuneOnChat` reads from a stage's config (SFT's, or rejection sampling's). */
export type ChatFineTuneConfig = z.output<z.ZodObject<typeof chatFineTuneShape>> & Record<string, unknown>

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

export interface ChatFineTune {
  result: LoopResult
  data: SftData
  maxSteps: number
}

/**
 * Fine-tunes `model` on chat data files with the SFT loss (assistant tokens only) through the
 * training loop: SFT's whole training, shared with rejection sampling's fine-tuning on its kept
 * answers. `stage` names the stage in checkpoints.
 */
export async function fineTuneOnChat(
  ctx: StageContext,
  opts: {
    model: Llama
    tokenizer: Tokenizer
    config: ChatFineTuneConfig
    paths: string[]
    stage: string
    from: string
    /** Which assistant turns carry loss (default all; Ghost Attention: the last only). */
    lossOn?: ChatLossOn
  },
): Promise<ChatFineTune> {
  const { model, tokenizer, config } = opts
  const seqLen = config.seq_len ?? model.config.max_seq_len
  const data = loadSftData({
    paths: opts.paths,
    tokenizer,
    seqLen,
    overflow: config.overflow,
    skipInvalid: config.skip_invalid,
    valFraction: config.val_fraction,
    lossOn: opts.lossOn,
  })
  const base = trainingSettings(config, 1)
  const maxSteps = config.max_steps ?? stepsForEpochs(data.train.length, config.epochs, base)
  const s = trainingSettings(config, maxSteps)
  const st = data.stats
  ctx.tracker.logParams({ n_params: countParameters(model.config), train_examples: data.train.length, val_examples: data.val.length })
  ctx.log(
    `base ${opts.from}; ${st.examples} examples (${data.train.length} train / ${data.val.length} validation), ` +
      `${st.trainableTokens.toLocaleString('en-US')} trainable tokens; ${st.truncated} truncated, ${st.dropped} dropped, ` +
      `${st.skipped.count} skipped; ${maxSteps} steps`,
  )
  if (st.truncated + st.dropped + st.skipped.count > 0) {
    ctx.tracker.logEvent('warning', `${st.truncated} example(s) truncated, ${st.dropped} dropped, ${st.skipped.count} invalid skipped`, st)
  }
  const adapterBase = prepareFinetuning(model, config, opts.from, s.seed)
  if (adapterBase) ctx.tracker.logParams({ lora_params: Object.values(model.adapters!.variables()).reduce((n, v) => n + v.size, 0) })
  const task = languageModelTask(model)
  const result = await trainLoop({
    ctx,
    model,
    adapterBase,
    tokenizer,
    settings: s,
    train: shuffledBatches(sftSource(data.train, seqLen, tokenizer.special.pad), s.batchSize, s.seed),
    task,
    evaluate: perplexityEvaluation(evalBatchesOf(data, seqLen, tokenizer.special.pad, s), task),
    samplePrompts: samplePromptsOf(data, tokenizer, s.sampleCount),
    dataPaths: opts.paths,
    stage: opts.stage,
    runConfig: config,
  })
  return { result, data, maxSteps }
}

/** The summary figures of a chat fine-tuning (SFT's whole summary; part of rejection sampling's). */
export function fineTuneSummary({ result, data }: ChatFineTune): Record<string, number> {
  const st = data.stats
  return {
    steps: result.step,
    train_loss: result.trainLoss,
    ...(result.lastEval ? { eval_loss: result.lastEval.loss, eval_perplexity: result.lastEval.perplexity } : {}),
    examples: st.examples,
    truncated: st.truncated,
    dropped: st.dropped,
    skipped_invalid: st.skipped.count,
    tokens_per_s: Math.round(result.unitsPerSec),
  }
}

/**
 * A whole chat fine-tuning as a stage's result (best checkpoint, summary with its seconds): SFT
 * itself, and the stages that write their own chat files first (context distillation, GAtt).
 * The caller owns (and disposes) the model.
 */
export async function fineTuneOnChatFiles(
  ctx: StageContext,
  job: { model: Llama; tokenizer: Tokenizer; baseDir: string; files: string[]; config: ChatFineTuneConfig; stage: string; lossOn?: ChatLossOn },
): Promise<StageResult> {
  const started = Date.now()
  const tuned = await fineTuneOnChat(ctx, { ...job, paths: job.files, from: job.baseDir })
  return {
    stopped: tuned.result.stopped,
    checkpointDir: tuned.result.bestCheckpointDir,
    summary: { ...fineTuneSummary(tuned), seconds: Math.round((Date.now() - started) / 100) / 10 },
  }
}

async function run(ctx: StageContext, config: SftConfig): Promise<StageResult> {
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('sft needs a base model: set base=<run id or checkpoint folder> (or give a parent with role "base")')
  const { model, tokenizer } = loadModel(baseDir, { maxSeqLen: config.seq_len })
  try {
    return await fineTuneOnChatFiles(ctx, { model, tokenizer, baseDir, files: config.data, config, stage: 'sft' })
  } finally {
    model.dispose()
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
  estimate: (config, from) => finetuningEstimate(config, from),
  run,
})
