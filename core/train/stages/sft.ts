// Stage `sft`: supervised fine-tuning (RECIPE.md section 2). Starts from a workbench checkpoint or
// an imported Hugging Face Llama folder (`base`, or a parent with role 'base'); trains on
// instruction data in any of the core/data formats (Alpaca, chat messages, ShareGPT,
// prompt/response), formatted with the chat template; the loss is on assistant tokens only.
import type { ConfigField } from '../../config/schema'
import { loadSftData, sequentialBatches, sftSource, type SftData, type SftExample } from '../../data'
import { countParameters } from '../../model/config'
import type { Tokenizer } from '../../tokenizer'
import { shuffledBatches, type Batch } from '../batches'
import { trainLoop } from '../loop'
import { loadModelFrom, parentCheckpoint, trainingFields, trainingSettings, type TrainingSettings } from './common'
import type { StageContext, StageDefinition, StageResult } from './types'

const FIELDS: ConfigField[] = [
  { key: 'base', type: 'string', pathKind: 'checkpoint', optional: true, group: 'model', help: 'The model to fine-tune: a run id, a checkpoint folder, or an imported Hugging Face Llama folder.' },
  { key: 'data', type: 'string[]', pathKind: 'input', required: true, group: 'data', help: 'JSONL (or .json array) files: Alpaca, chat "messages", ShareGPT "conversations" or prompt/response; detected per line.' },
  { key: 'seq_len', type: 'int', optional: true, min: 8, group: 'data', help: 'Longest example in tokens (default: the base model\'s context).' },
  { key: 'overflow', type: 'enum', choices: ['truncate', 'drop'], default: 'truncate', group: 'data', help: 'Too-long examples: cut to seq_len (dropped if no answer token is left) or drop them. Both are counted.' },
  { key: 'skip_invalid', type: 'bool', default: false, group: 'data', help: 'Skip (and count) malformed lines instead of stopping at the first.' },
  { key: 'val_fraction', type: 'float', default: 0.1, min: 0, max: 0.5, group: 'data', help: 'Share of examples held out for validation loss.' },
  { key: 'epochs', type: 'float', default: 2, min: 0.01, group: 'schedule', help: 'Passes over the data (Llama 2: 2); sets max_steps unless max_steps is given.' },
  ...trainingFields({ lr: 2e-5, warmup_steps: 10, max_steps: undefined, batch_size: 8, eval_every: 50, sample_every: 100, checkpoint_every: 100 }).map((f) =>
    f.key === 'lr'
      ? { ...f, help: 'Peak learning rate. Llama 2 used 2e-5 at 7B; tiny models need far more (about 1e-3, see the tiny preset).' }
      : f,
  ),
]

const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: { lr: 1e-3, batch_size: 8, epochs: 10, warmup_steps: 10 },
  small: { lr: 3e-4, batch_size: 8, epochs: 4, warmup_steps: 20 },
}

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

async function run(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult> {
  const started = Date.now()
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('sft needs a base model: set base=<run id or checkpoint folder> (or give a parent with role "base")')
  const { model, tokenizer } = loadModelFrom(baseDir, { maxSeqLen: config.seq_len as number | undefined })
  try {
    const seqLen = (config.seq_len as number | undefined) ?? model.config.max_seq_len
    const data = loadSftData({
      paths: config.data as string[],
      tokenizer,
      seqLen,
      overflow: config.overflow as 'truncate' | 'drop',
      skipInvalid: config.skip_invalid as boolean,
      valFraction: config.val_fraction as number,
    })
    const base = trainingSettings(config, 1)
    const maxSteps = (config.max_steps as number | undefined) ?? stepsForEpochs(data.train.length, config.epochs as number, base)
    const s = trainingSettings(config, maxSteps)
    const st = data.stats
    ctx.tracker.logParams({ n_params: countParameters(model.config), train_examples: data.train.length, val_examples: data.val.length })
    ctx.log(
      `base ${baseDir}; ${st.examples} examples (${data.train.length} train / ${data.val.length} validation), ` +
        `${st.trainableTokens.toLocaleString('en-US')} trainable tokens; ${st.truncated} truncated, ${st.dropped} dropped, ` +
        `${st.skipped.count} skipped; ${maxSteps} steps`,
    )
    if (st.truncated + st.dropped + st.skipped.count > 0) {
      ctx.tracker.logEvent('warning', `${st.truncated} example(s) truncated, ${st.dropped} dropped, ${st.skipped.count} invalid skipped`, st)
    }
    const result = await trainLoop({
      ctx,
      model,
      tokenizer,
      settings: s,
      train: shuffledBatches(sftSource(data.train, seqLen, tokenizer.special.pad), s.batchSize, s.seed),
      evalBatches: evalBatchesOf(data, seqLen, tokenizer.special.pad, s),
      samplePrompts: samplePromptsOf(data, tokenizer, s.sampleCount),
      stage: 'sft',
      runConfig: config,
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
        tokens_per_s: Math.round(result.tokensPerSec),
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
    }
  } finally {
    model.dispose()
  }
}

export const sftStage: StageDefinition = {
  name: 'sft',
  title: 'Supervised fine-tuning',
  description:
    'Fine-tune a checkpoint on instructions with the chat template; only assistant tokens carry loss. ' +
    'Defaults follow Llama 2 (lr 2e-5, 2 epochs); tiny models need a higher lr (use --preset tiny).',
  fields: FIELDS,
  presets: PRESETS,
  parentRoles: ['base'],
  run,
}
