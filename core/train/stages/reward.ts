// Stage `reward`: a reward model (Llama 2 section 3.2.2, RECIPE.md section 4). Starts from a
// checkpoint (`base`, or a parent with role 'base'); the language-model head is dropped and a
// scalar `score.weight` head scores each answer at its last real token. Trained with the binary
// ranking loss -log sigmoid(r_chosen - r_rejected - m(rating)) (core/train/rewardTask.ts) on
// preference pairs from datasets (runs of stage `preferences`) or files, for one epoch. Saved as
// LlamaForSequenceClassification with one label. The held-out evaluation reports accuracy overall,
// by rating and by safety label, margins, scores, calibration, a sample table, and beside them
// the accuracy of trivial baselines on the same pairs (core/eval/baselines.ts), saying plainly
// when the reward model does not beat them.
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { PREFERENCE_RATINGS, type PreferencePair } from '../../data/preferences'
import { loadPreferenceDataset, parseDatasetRef } from '../../data/preferences/dataset'
import { readPreferenceList } from '../../data/preferences/read'
import { baselineAccuracies, type BaselineAccuracies } from '../../eval/baselines'
import { rewardMetrics, scoreHistogram, type RewardMetrics } from '../../eval/rewardMetrics'
import { scoreTokenRows, type RewardModel } from '../../eval/rewardScore'
import { countParameters } from '../../model/config'
import { ScalarHead } from '../../model/heads'
import { Llama } from '../../model/llama'
import { loadModel } from '../../model/load'
import { Store } from '../../tracking/store'
import { trainLoop } from '../loop'
import { encodePairs, fixedPairBatches, MARGIN_SETTINGS, safetyMix, safetyPairsOf, shuffledIndices, shuffledPairBatches, weightPairs, type EncodedPair, type MarginSetting } from '../rewardData'
import { rewardTask, type RewardBatch } from '../rewardTask'
import { evaluateTask, type TrainTask } from '../task'
import { parentCheckpoint, trainingFields, trainingSettings } from './common'
import { adapterBaseError, finetuningEstimate, finetuningShape, prepareFinetuning, type FinetuningConfig } from './finetuning'
import { foldAdaptersInPlace } from '../../model/lora'
import { defineStage, type StageContext, type StageResult } from './types'

// Llama 2 used lr 1e-5 (5e-6 at 70B) at 7B-70B parameters; a tiny model in one epoch over a few
// hundred pairs learns nothing at that rate, so the default is 1e-4 (presets go higher).
const training = trainingFields({ lr: 1e-4, warmup_steps: 5, max_steps: undefined, batch_size: 8, eval_every: 0, sample_every: 0, checkpoint_every: 0 })

const schema = z
  .object({
    base: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model the reward model starts from (Llama 2: the chat model): a run id or a checkpoint folder. Its LM head is replaced by a scalar score head.' }),
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'dataset', data: 'preferences', help: 'Preference data: dataset run ids (workbench prefs import) or files (HH, TRL or workbench JSONL), each with an optional @weight (prefs.jsonl@0.5: a seeded half; @2: every pair twice). Repeatable.' }),
    eval_data: z.array(z.string()).optional().meta({ group: 'data', path: 'dataset', data: 'preferences', help: 'Held-out pairs (run ids or files); default: val_fraction of the data.' }),
    kind: z.enum(['helpfulness', 'safety']).default('helpfulness').meta({ group: 'model', help: 'helpfulness, or safety: trains on safety pairs (one answer unsafe) mixed 90/10 with the other pairs, and is evaluated on the held-out safety pairs, as Llama 2.' }),
    margin: z.enum(MARGIN_SETTINGS).default('small').meta({ group: 'loss', help: 'Margin m(rating) in the loss: none, small (1, 2/3, 1/3, 0) or large (3, 2, 1, 0), significantly ... negligibly better.' }),
    seq_len: z.number().int().min(8).optional().meta({ group: 'data', help: 'Longest conversation + answer in tokens (default: the base model\'s context); longer ones are cut from the left of the conversation, never inside the answer.' }),
    val_fraction: z.number().min(0).max(0.5).default(0.1).meta({ group: 'data', help: 'Share of pairs held out for evaluation when eval_data is not given.' }),
    skip_invalid: z.boolean().default(false).meta({ group: 'data', help: 'Skip (and count) malformed lines of data files instead of stopping at the first.' }),
    center_rewards: z.number().min(0).default(0.01).meta({ group: 'loss', help: 'Weight of c * mean((r_chosen + r_rejected)^2) in the loss (TRL center_rewards_coefficient): keeps scores centred on 0, so the reward rule\'s absolute safety threshold (sigmoid(R_safety) < 0.15) means something. 0 = off.' }),
    epochs: z.number().min(0.01).default(1).meta({ group: 'schedule', help: 'Passes over the pairs (Llama 2: 1; more overfits). Sets max_steps unless max_steps is given.' }),
    eval_samples: z.number().int().min(0).default(16).meta({ group: 'logging', help: 'Held-out pairs stored in the sample table (conversation, both answers, both scores).' }),
    ...training.shape,
    warmup_steps: z.number().int().min(0).optional().meta({ group: 'optimiser', help: 'Linear warmup steps (default: 3% of the steps, at least 5, as Llama 2).' }),
    ...finetuningShape,
  })
  .strict()

export type RewardConfig = z.output<typeof schema>

/** Llama 2's warmup: 3% of the steps, at least 5 (never more than the run). */
export function defaultWarmup(steps: number): number {
  return Math.min(steps, Math.max(5, Math.round(0.03 * steps)))
}

/** The pairs of one data entry: a file if one is there, else a dataset run. */
async function readSource(ctx: StageContext, entry: string, skipInvalid: boolean): Promise<PreferencePair[]> {
  if (fs.existsSync(entry) && fs.statSync(entry).isFile()) return (await readPreferenceList(entry, { skipInvalid })).list
  if (path.isAbsolute(entry) || entry.includes('/')) throw new Error(`data ${entry}: no such file`)
  const store = Store.open(ctx.home)
  try {
    return await loadPreferenceDataset(store, entry)
  } catch (err) {
    throw new Error(`data ${entry}: neither a file nor a preference dataset run (${(err as Error).message})`)
  } finally {
    store.close()
  }
}

interface RewardData {
  train: PreferencePair[]
  heldOut: PreferencePair[]
  notes: string[]
}

/** Reads, weights, splits and (for a safety model) mixes the pairs. Deterministic for the seed. */
async function loadRewardData(ctx: StageContext, config: RewardConfig): Promise<RewardData> {
  const notes: string[] = []
  let pool: PreferencePair[] = []
  for (const [i, entry] of config.data.entries()) {
    const { ref, weight } = parseDatasetRef(entry)
    const pairs = await readSource(ctx, ref, config.skip_invalid)
    pool.push(...weightPairs(pairs, weight, config.seed + i))
    notes.push(`${ref}: ${pairs.length} pairs${weight !== 1 ? ` x ${weight}` : ''}`)
  }
  let heldOut: PreferencePair[] = []
  if (config.eval_data && config.eval_data.length > 0) {
    for (const entry of config.eval_data) heldOut.push(...(await readSource(ctx, parseDatasetRef(entry).ref, config.skip_invalid)))
  } else if (config.val_fraction > 0) {
    // Split by conversation so no held-out prompt was seen in training.
    const order = shuffledIndices(pool.length, config.seed + 101)
    const shuffled = order.map((i) => pool[i])
    const prompts = [...new Set(shuffled.map((p) => JSON.stringify(p.messages)))]
    const heldPrompts = new Set(prompts.slice(0, Math.max(1, Math.round(prompts.length * config.val_fraction))))
    heldOut = shuffled.filter((p) => heldPrompts.has(JSON.stringify(p.messages)))
    pool = shuffled.filter((p) => !heldPrompts.has(JSON.stringify(p.messages)))
  }
  if (config.kind === 'safety') {
    // One definition of safety data for training and held-out pairs: from all of them.
    const isSafety = safetyPairsOf([...pool, ...heldOut])
    const mix = safetyMix(pool, config.seed, isSafety)
    notes.push(`safety mix: ${mix.safety} safety pairs + ${mix.helpfulness} helpfulness pairs`)
    pool = mix.mixed
    // A safety model is judged on safety pairs (Llama 2's Meta Safety test set), when there are any.
    const safetyHeldOut = heldOut.filter(isSafety)
    if (safetyHeldOut.length > 0 && safetyHeldOut.length < heldOut.length) {
      notes.push(`evaluated on the ${safetyHeldOut.length} safety pairs of the ${heldOut.length} held out`)
      heldOut = safetyHeldOut
    }
  }
  if (pool.length === 0) throw new Error('no training pairs left (check data and val_fraction)')
  return { train: pool, heldOut, notes }
}

/**
 * The base model with its LM head dropped and a fresh reward head: what the stage trains. With
 * LoRA, fresh adapters on the frozen trunk too (`adapterBase`: the folder the adapters sit on).
 */
function rewardModelFrom(
  baseDir: string,
  seqLen: number | undefined,
  seed: number,
  finetuning: FinetuningConfig,
): { rm: RewardModel; tokenizer: ReturnType<typeof loadModel>['tokenizer']; adapterBase?: string } {
  const loaded = loadModel(baseDir, { maxSeqLen: seqLen, heads: [], scoringOnly: true })
  try {
    // Adapters the base folder brought are folded in (full), or refused (LoRA over an adapter).
    if (finetuning.finetuning === 'lora' && loaded.adapter) throw adapterBaseError(baseDir)
    foldAdaptersInPlace(loaded.model)
    // A sequence classifier has no lm_head (tied config, as saved): keep the trunk only.
    const { ['lm_head.weight']: _dropped, ...trunk } = loaded.model.weights
    const model = Llama.fromWeights({ ...loaded.config, tie_embeddings: true }, trunk)
    const adapterBase = prepareFinetuning(model, finetuning, baseDir, seed)
    return { rm: { model, head: ScalarHead.create('reward', model.config.dim, seed) }, tokenizer: loaded.tokenizer, adapterBase }
  } finally {
    loaded.dispose()
  }
}

/** Scores of both answers of every encoded pair. */
async function scoreEncodedPairs(rm: RewardModel, pairs: EncodedPair[], batchSize: number, pad: number): Promise<{ chosen: number[]; rejected: number[] }> {
  return {
    chosen: await scoreTokenRows(rm, pairs.map((p) => p.chosen), batchSize, pad),
    rejected: await scoreTokenRows(rm, pairs.map((p) => p.rejected), batchSize, pad),
  }
}

/** The verdict line beside the baselines. */
export function baselineVerdict(accuracy: number, baselines: BaselineAccuracies): { beats: boolean; message: string } {
  const [bestName, best] = Object.entries(baselines).reduce((a, b) => (b[1] > a[1] ? b : a))
  const name = bestName.replace('baseline_', '')
  const beats = accuracy > best
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`
  return {
    beats,
    message: beats
      ? `reward model accuracy ${pct(accuracy)} beats the best trivial baseline (${name}: ${pct(best)})`
      : `the reward model does NOT beat the best trivial baseline: accuracy ${pct(accuracy)} vs ${name} ${pct(best)}; it has learned nothing a length or word-count rule does not already know`,
  }
}

async function run(ctx: StageContext, config: RewardConfig): Promise<StageResult> {
  const started = Date.now()
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('reward needs a base model: set base=<run id or checkpoint folder> (or give a parent with role "base")')
  const data = await loadRewardData(ctx, config)
  const { rm, tokenizer, adapterBase } = rewardModelFrom(baseDir, config.seq_len, config.seed, config)
  const { model, head } = rm
  try {
    const seqLen = config.seq_len ?? model.config.max_seq_len
    const pad = tokenizer.special.pad
    const train = encodePairs(tokenizer, data.train, seqLen, config.margin as MarginSetting)
    const held = encodePairs(tokenizer, data.heldOut, seqLen, config.margin as MarginSetting)
    if (train.encoded.length === 0) throw new Error(`every training pair's answer is longer than seq_len ${seqLen}`)
    const base = trainingSettings({ ...config, warmup_steps: 0 }, 1)
    const maxSteps = config.max_steps ?? Math.max(1, Math.ceil((train.encoded.length * config.epochs) / (base.batchSize * base.gradAccum)))
    const s = trainingSettings({ ...config, warmup_steps: config.warmup_steps ?? defaultWarmup(maxSteps) }, maxSteps)
    ctx.tracker.logParams({ n_params: countParameters(model.config) + model.config.dim, train_pairs: train.encoded.length, eval_pairs: held.encoded.length, warmup_steps: s.warmupSteps })
    for (const note of data.notes) ctx.log(note)
    ctx.log(
      `base ${baseDir}; ${config.kind} reward model, margin ${config.margin}; ${train.encoded.length} training / ${held.encoded.length} held-out pairs ` +
        `(${train.truncated + held.truncated} cut from the left, ${train.dropped + held.dropped} dropped: answer longer than ${seqLen}); ${maxSteps} steps, warmup ${s.warmupSteps}`,
    )
    if (train.dropped + held.dropped > 0) ctx.tracker.logEvent('warning', `${train.dropped + held.dropped} pair(s) dropped: an answer alone is longer than seq_len ${seqLen}`)

    const task = rewardTask(model, head, { centerCoef: config.center_rewards })
    const evalBatches = fixedPairBatches(held.encoded, s.batchSize, pad).slice(0, s.evalBatches)
    const result = await trainLoop({
      ctx,
      model,
      heads: { [head.weightName]: head.weight },
      adapterBase,
      tokenizer,
      settings: s,
      train: shuffledPairBatches(train.encoded, s.batchSize, s.seed, pad),
      task,
      evaluate: evalBatches.length > 0 ? () => evalLossAndAccuracy(evalBatches, task) : undefined,
      dataPaths: [...config.data, ...(config.eval_data ?? [])].map((e) => parseDatasetRef(e).ref).filter((p) => fs.existsSync(p)),
      stage: 'reward',
      runConfig: config,
      checkpointKind: 'reward',
    })
    const summary: Record<string, number | string | boolean> = {
      steps: result.step,
      train_loss: result.trainLoss,
      train_pairs: train.encoded.length,
      eval_pairs: held.encoded.length,
      pairs_per_s: Math.round(result.unitsPerSec * 10) / 10,
    }
    if (!result.stopped && held.encoded.length > 0) Object.assign(summary, await finalEvaluation(ctx, rm, tokenizer, train.encoded, held.encoded, s.batchSize, result.step, config.eval_samples))
    summary.seconds = Math.round((Date.now() - started) / 100) / 10
    // The final weights, which the evaluation above measured (Llama 2 trains one epoch and keeps the last).
    return { stopped: result.stopped, checkpointDir: result.checkpointDir, summary }
  } finally {
    model.dispose()
    head.dispose()
  }
}

/** The loop's periodic evaluation: ranking loss (picks the best checkpoint) and accuracy on the held-out batches. */
async function evalLossAndAccuracy(batches: RewardBatch[], task: TrainTask<RewardBatch>): Promise<Record<string, number>> {
  const out = await evaluateTask(batches, task)
  return { loss: out.loss, accuracy: out.metrics.accuracy }
}

/** The full held-out report: metrics, baselines, verdict, calibration artifact, sample table. */
async function finalEvaluation(
  ctx: StageContext,
  rm: RewardModel,
  tokenizer: ReturnType<typeof loadModel>['tokenizer'],
  train: EncodedPair[],
  held: EncodedPair[],
  batchSize: number,
  step: number,
  samples: number,
): Promise<Record<string, number | string | boolean>> {
  const scores = await scoreEncodedPairs(rm, held, batchSize, tokenizer.special.pad)
  const report: RewardMetrics = rewardMetrics(held.map((p) => p.pair), scores.chosen, scores.rejected)
  const baselines = baselineAccuracies(train.map((p) => p.pair), held.map((p) => p.pair))
  const verdict = baselineVerdict(report.metrics.accuracy, baselines)
  ctx.tracker.logMetrics(step, Object.fromEntries(Object.entries({ ...report.metrics, ...baselines }).map(([k, v]) => [`eval/${k}`, v])))
  ctx.tracker.logEvent(verdict.beats ? 'info' : 'warning', verdict.message, { accuracy: report.metrics.accuracy, ...baselines }, step)
  ctx.log(verdict.message)
  const reportFile = path.join(ctx.runDir, 'reward_eval.json')
  fs.writeFileSync(reportFile, JSON.stringify({ step, metrics: report.metrics, baselines, beats_baselines: verdict.beats, calibration: report.calibration, scores }, null, 2) + '\n')
  // The run page draws its accuracy-by-strength bars and score histograms from this meta.
  const byRating = Object.fromEntries(PREFERENCE_RATINGS.filter((r) => `accuracy_${r}` in report.metrics).map((r) => [r, report.metrics[`accuracy_${r}`]]))
  ctx.tracker.logArtifact({
    kind: 'reward_eval',
    path: reportFile,
    step,
    meta: { accuracy: report.metrics.accuracy, accuracy_by_rating: byRating, ...baselines, verdict: verdict.message, beats_baselines: verdict.beats, histogram: scoreHistogram(scores.chosen, scores.rejected) },
  })
  held.slice(0, samples).forEach((p, i) => {
    const conversation = p.pair.messages.map((m) => `${m.role}: ${m.content}`).join('\n')
    const right = scores.chosen[i] > scores.rejected[i]
    ctx.tracker.logSample({
      step,
      prompt: conversation,
      response: `chosen: ${p.pair.chosen}\nrejected: ${p.pair.rejected}\n${right ? 'right' : 'WRONG'}`,
      scores: { reward_chosen: scores.chosen[i], reward_rejected: scores.rejected[i], right: right ? 1 : 0 },
    })
  })
  const summary: Record<string, number | string | boolean> = { beats_baselines: verdict.beats }
  for (const [k, v] of Object.entries({ ...report.metrics, ...baselines })) summary[k.startsWith('baseline_') ? k : `eval_${k}`] = v
  return summary
}

export const rewardStage = defineStage({
  name: 'reward',
  title: 'Reward model',
  description:
    'Train a helpfulness or safety reward model on preference pairs with the binary ranking loss (margin by rating), ' +
    'from a chat checkpoint, for one epoch. The held-out report puts its accuracy beside trivial baselines (shorter/longer answer wins, bag of words).',
  schema,
  presets: {
    tiny: { lr: 1e-3, batch_size: 8 },
    small: { lr: 3e-4, batch_size: 8 },
  },
  parents: [{ role: 'base', key: 'base', required: true }],
  cli: {
    command: 'reward',
    summary: 'reward --base <run|checkpoint> --data <dataset|file>  train a reward model on preference pairs',
    usage: [
      'Usage: workbench reward --base <run|checkpoint> --data <dataset|file> [--data ...] [--set kind=safety] [options]',
      '',
      '--data is a preference dataset (a run id from `workbench prefs import`) or a preference file (HH, TRL or',
      'workbench JSONL); repeat it to mix several (weights: --data prefs.jsonl@0.5). kind=safety mixes safety',
      'pairs (one answer unsafe) 90/10 with the others. The evaluation compares the model with trivial baselines.',
    ].join('\n'),
    flags: { base: 'base', data: 'data', eval: 'eval_data' },
    notes: 'The reward model is saved as LlamaForSequenceClassification (score with `workbench score --model <run>`).',
  },
  // Each pair's chosen and rejected answers go through the model together; a score head, no logits.
  estimate: (config, from) => finetuningEstimate(config, from, { rowsPerExample: 2, logits: false }),
  run,
})
