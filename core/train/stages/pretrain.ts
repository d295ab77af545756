// Stage `pretrain`: train a Llama from scratch on the user's text (RECIPE.md section 1), or
// continue pretraining a checkpoint at a longer context (`init_from` + a larger seq_len; the new
// run's parent is the shorter-context run).
//
// Data: files, folders, JSONL `text`; tokenised once and cached in <home>/cache; packed into
// windows of seq_len + 1 tokens; an evenly spread share held out for validation.
// Without `tokenizer`, a tokenizer is trained on the data first (artifact tokenizer.json).
import path from 'node:path'
import type { ConfigField } from '../../config/schema'
import { loadPretrainData, sequentialBatches, windowSource, type PretrainData } from '../../data'
import { MODEL_PRESETS, countParameters, resolveModelConfig, type LlamaConfig } from '../../model/config'
import { Llama } from '../../model/llama'
import { Tokenizer } from '../../tokenizer'
import { shuffledBatches, type Batch } from '../batches'
import { trainLoop } from '../loop'
import { loadModelFrom, parentCheckpoint, trainingFields, trainingSettings, type TrainingSettings } from './common'
import { trainTokenizerInto } from './tokenizer'
import type { StageContext, StageDefinition, StageResult } from './types'

const MODEL_FIELDS: ConfigField[] = [
  { key: 'model', type: 'enum', choices: ['tiny', 'small'], default: 'tiny', group: 'model', help: 'Model shape preset: tiny (~1M parameters) or small (~8.3M with its 4k vocabulary; the shape of llama2.c stories15M).' },
  { key: 'dim', type: 'int', optional: true, min: 8, group: 'model', help: 'Model width (overrides the preset).' },
  { key: 'n_layers', type: 'int', optional: true, min: 1, group: 'model', help: 'Transformer blocks (overrides the preset).' },
  { key: 'n_heads', type: 'int', optional: true, min: 1, group: 'model', help: 'Attention heads (overrides the preset).' },
  { key: 'n_kv_heads', type: 'int', optional: true, min: 1, group: 'model', help: 'Key/value heads for grouped-query attention; must divide n_heads.' },
  { key: 'hidden_dim', type: 'int', optional: true, min: 1, group: 'model', help: 'SwiGLU width (default: 2/3 * 4 * dim rounded up).' },
  { key: 'seq_len', type: 'int', optional: true, min: 8, group: 'model', help: 'Training context length (default: the preset\'s, 128 tiny / 256 small). Larger than init_from\'s = context extension.' },
]

const DATA_FIELDS: ConfigField[] = [
  { key: 'data', type: 'string[]', pathKind: 'input', required: true, group: 'data', help: 'Text files (.txt, .md), JSONL with a "text" field, or folders of them.' },
  { key: 'tokenizer', type: 'path', optional: true, group: 'data', help: 'A tokenizer.json (or a folder with one). Absent: train one on the data.' },
  { key: 'vocab_size', type: 'int', optional: true, min: 264, group: 'data', help: 'Vocabulary when training a tokenizer (default: the model preset\'s, 512 tiny / 4096 small).' },
  { key: 'val_fraction', type: 'float', default: 0.05, min: 0, max: 0.5, group: 'data', help: 'Share of windows held out for validation (at least one).' },
  { key: 'skip_invalid', type: 'bool', default: false, group: 'data', help: 'Skip (and count) malformed JSONL lines instead of stopping at the first.' },
  { key: 'init_from', type: 'string', pathKind: 'checkpoint', optional: true, group: 'model', help: 'Continue from this run id or checkpoint folder (its model and tokenizer), e.g. at a longer seq_len.' },
]

const FIELDS: ConfigField[] = [
  ...DATA_FIELDS,
  ...MODEL_FIELDS,
  ...trainingFields({ lr: 1e-3, warmup_steps: 50, max_steps: 600, batch_size: 16, eval_every: 100, sample_every: 200, checkpoint_every: 200 }),
]

const PRESETS: Record<string, Record<string, unknown>> = {
  tiny: { model: 'tiny', lr: 1e-3, batch_size: 16, max_steps: 600, warmup_steps: 50 },
  small: { model: 'small', lr: 6e-4, batch_size: 16, max_steps: 2000, warmup_steps: 100 },
}

/** The model config from the preset, the explicit fields and the tokenizer's vocabulary. */
export function modelConfigFor(config: Record<string, unknown>, vocabSize: number): LlamaConfig {
  const preset = MODEL_PRESETS[config.model as 'tiny' | 'small']
  const pick = (key: keyof LlamaConfig) => (config[key] !== undefined ? { [key]: config[key] } : {})
  const dim = (config.dim as number | undefined) ?? preset.dim
  const changesShape = ['dim', 'n_heads'].some((k) => config[k] !== undefined)
  return resolveModelConfig({
    ...preset,
    // A changed width needs its own SwiGLU width unless one is given.
    ...(changesShape && config.hidden_dim === undefined ? { hidden_dim: undefined } : {}),
    ...(config.n_heads !== undefined && config.n_kv_heads === undefined ? { n_kv_heads: config.n_heads as number } : {}),
    dim,
    ...pick('n_layers'),
    ...pick('n_heads'),
    ...pick('n_kv_heads'),
    ...pick('hidden_dim'),
    vocab_size: vocabSize,
    max_seq_len: (config.seq_len as number | undefined) ?? preset.max_seq_len,
  })
}

function resolveTokenizer(ctx: StageContext, config: Record<string, unknown>): Tokenizer {
  if (typeof config.tokenizer === 'string') return Tokenizer.load(config.tokenizer)
  const preset = MODEL_PRESETS[config.model as 'tiny' | 'small']
  const vocab = (config.vocab_size as number | undefined) ?? preset.vocab_size
  return trainTokenizerInto(ctx, config.data as string[], vocab, config.skip_invalid as boolean).tokenizer
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

/** Sample prompts: the first 8 tokens of a few validation windows. */
function samplePromptsOf(data: PretrainData, count: number): number[][] {
  const prompts: number[][] = []
  const { tokens, starts } = data.val
  for (let i = 0; i < Math.min(count, starts.length); i++) {
    prompts.push(Array.from(tokens.subarray(starts[i], starts[i] + 8)))
  }
  return prompts
}

async function run(ctx: StageContext, config: Record<string, unknown>): Promise<StageResult> {
  const started = Date.now()
  const s = trainingSettings(config)
  const initDir = parentCheckpoint(ctx, 'continue', config.init_from, 'init_from')
  let model: Llama
  let tokenizer: Tokenizer
  if (initDir) {
    const loaded = loadModelFrom(initDir, { maxSeqLen: config.seq_len as number | undefined })
    model = loaded.model
    tokenizer = loaded.tokenizer
    ctx.log(`continuing from ${initDir} at context ${model.config.max_seq_len}`)
  } else {
    tokenizer = ctx.resumeFrom ? Tokenizer.load(path.join(ctx.resumeFrom, 'tokenizer.json')) : resolveTokenizer(ctx, config)
    model = Llama.create(modelConfigFor(config, tokenizer.vocabSize), s.seed)
  }
  const seqLen = (config.seq_len as number | undefined) ?? model.config.max_seq_len
  if (seqLen > model.config.max_seq_len) throw new Error(`seq_len ${seqLen} is larger than the model's max_seq_len ${model.config.max_seq_len}`)
  try {
    const data = loadPretrainData({
      paths: config.data as string[],
      tokenizer,
      seqLen,
      valFraction: config.val_fraction as number,
      cacheDir: path.join(ctx.home, 'cache'),
      skipInvalid: config.skip_invalid as boolean,
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
    const result = await trainLoop({
      ctx,
      model,
      tokenizer,
      settings: s,
      train: shuffledBatches(windowSource(data.train), s.batchSize, s.seed),
      evalBatches: evalBatchesOf(data, s),
      samplePrompts: samplePromptsOf(data, s.sampleCount),
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
        tokens_seen: result.tokensSeen,
        tokens_per_s: Math.round(result.tokensPerSec),
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

export const pretrainStage: StageDefinition = {
  name: 'pretrain',
  title: 'Pretrain',
  description:
    'Train a small Llama (RMSNorm, RoPE, SwiGLU, GQA) from scratch on your text with AdamW, warmup + cosine ' +
    'decay, gradient clipping and a bad-batch guard. lr defaults suit the tiny preset (1e-3); Llama 2 used 3e-4 at 7B.',
  fields: FIELDS,
  presets: PRESETS,
  parentRoles: [],
  run,
}
