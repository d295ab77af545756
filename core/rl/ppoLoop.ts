// PPO's own explicit loop (ARCHITECTURE: "PPO has its own explicit loop built from the same
// parts": AdamW, clipping, checkpoints, the tracker). One step:
//   1. rollout: a batch of prompts (a seeded order, one shuffle per pass), one response each;
//   2. one forward pass of the policy (log-probs, values, entropy) and the frozen reference;
//   3. score: the reward models' scores through the reward rule (reward.ts), whitened;
//   4. per-token rewards -beta * KL + the score at the last token; GAE; whitened advantages;
//   5. K epochs over shuffled minibatches, one AdamW step per minibatch on
//      policy loss + vf_coef * value loss; a batch's epochs stop early once the approximate KL of
//      a minibatch exceeds target_kl.
// Metrics carry TRL's names. Every random draw (prompt order, sampling, minibatch order) is seeded
// from (seed, step, index), so the RNG state is the step itself: resuming from a checkpoint
// (policy, value model, optimiser moments, step, the reference's folder and the over-optimisation
// window) continues the same curve.
import fs from 'node:fs'
import path from 'node:path'
import { tf } from '../backend/tf'
import type { GoldItem } from '../eval/gold'
import { loadCheckpoint, saveCheckpoint } from '../model/checkpoint'
import type { Llama } from '../model/llama'
import type { Tokenizer } from '../tokenizer'
import { AdamW, clipCoefficient, type AdamWState } from '../train/adamw'
import type { StageContext } from '../train/stages/types'
import { mulberry32 } from '../util/random'
import { gae } from './gae'
import { goldMetrics, overOptimisation, type ProxyGoldPoint } from './goldWatch'
import { clippedPolicyLoss, clippedValueLoss } from './losses'
import { batchRewards, tokenRewards, type KlEstimator, type RewardScores } from './reward'
import { generateResponses, packRollouts, policyOutputs, toRows, type PpoPrompt, type ValueModel } from './rollout'
import { maskedWhiten } from './stats'

export interface PpoSettings {
  seed: number
  /** PPO iterations (one rollout batch each). */
  steps: number
  /** Prompts (and so rollouts) per step. */
  batchSize: number
  miniBatchSize: number
  ppoEpochs: number
  lr: number
  beta1: number
  beta2: number
  adamEps: number
  weightDecay: number
  gradClip: number
  klCoef: number
  klEstimator: KlEstimator
  gamma: number
  lam: number
  clipRange: number
  clipRangeValue: number
  vfCoef: number
  /** 0 = no early stop. */
  targetKl: number
  maxNewTokens: number
  temperature: number
  whitenScores: boolean
  /** 0 = no clip. */
  scoreClip: number
  /** Subtracted from the score of a response cut at maxNewTokens (TRL missing_eos_penalty); 0 = none. */
  missingEosPenalty: number
  sampleEvery: number
  sampleCount: number
  checkpointEvery: number
  keepLast: number
  /** Steps over which proxy-up / gold-down is detected. */
  goldWindow: number
}

/** A rollout as the scorer sees it. */
export interface ScoredRollout {
  prompt: PpoPrompt
  /** Response tokens (the stop token included when produced). */
  response: number[]
  /** The response as text (special tokens dropped). */
  text: string
}

export interface PpoLoopOptions {
  ctx: StageContext
  policy: Llama
  reference: Llama
  value: ValueModel
  tokenizer: Tokenizer
  prompts: PpoPrompt[]
  /** The reward models' scores for a batch of rollouts (combined by the reward rule here). */
  score: (rollouts: ScoredRollout[]) => Promise<RewardScores[]>
  settings: PpoSettings
  /** The reference policy's folder, recorded in checkpoints so a resume loads the same one. */
  referenceDir: string
  /**
   * LoRA: the policy's adapters (policy.adapters) train over the frozen trunk of this folder, the
   * reference is the policy with its adapters off (as TRL with PEFT: no second model; `reference`
   * is unused), and checkpoints are PEFT adapter folders over it.
   */
  adapterBase?: string
  stage: string
  runConfig: Record<string, unknown>
}

/** Everything besides weights and moments that a resume needs (trainer_state.json). */
export interface PpoTrainerState {
  step: number
  referenceDir: string
  goldPoints: ProxyGoldPoint[]
  lastOverOptimisationWarning: number | null
  checkpoints: string[]
}

export interface PpoLoopResult {
  stopped: boolean
  step: number
  checkpointDir?: string
  lastMetrics: Record<string, number>
}

const CHECKPOINTS_FOLDER = 'checkpoints'
/** The separate value trunk's folder beside a policy checkpoint. */
export const VALUE_TRUNK_SUFFIX = '.value'

/** The parameters AdamW trains: the policy, the value head, and a separate value trunk (prefixed `value_model.`). */
export function ppoParams(policy: Llama, value: ValueModel, lora = false): Record<string, tf.Variable> {
  const trained = lora && policy.adapters ? policy.adapters.variables() : policy.weights
  const params: Record<string, tf.Variable> = { ...trained, [value.head.weightName]: value.head.weight }
  if (value.trunk) for (const [name, v] of Object.entries(value.trunk.weights)) params[`value_model.${name}`] = v
  return params
}

export async function ppoLoop(opts: PpoLoopOptions): Promise<PpoLoopResult> {
  const { ctx, settings: s } = opts
  const params = ppoParams(opts.policy, opts.value, opts.adapterBase !== undefined)
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(params, { lr: s.lr, beta1: s.beta1, beta2: s.beta2, eps: s.adamEps, weightDecay: s.weightDecay })
  })
  try {
    const state = ctx.resumeFrom ? resumeState(ctx.resumeFrom, optimizer) : freshState(opts.referenceDir)
    if (state.referenceDir !== path.resolve(opts.referenceDir)) {
      throw new Error(`resume: the checkpoint's reference policy is ${state.referenceDir}, but this run was given ${opts.referenceDir}`)
    }
    let lastMetrics: Record<string, number> = {}
    let checkpointDir = ctx.resumeFrom
    while (state.step < s.steps) {
      if (ctx.signal.aborted) {
        checkpointDir = await checkpoint(opts, optimizer, state)
        return { stopped: true, step: state.step, checkpointDir, lastMetrics }
      }
      const step = state.step + 1
      lastMetrics = await ppoStep(opts, optimizer, state, step)
      state.step = step
      ctx.tracker.logMetrics(step, lastMetrics)
      ctx.progress({ step, totalSteps: s.steps, loss: lastMetrics['loss/policy_avg'], message: `reward ${lastMetrics['objective/scores'].toFixed(3)}` })
      if ((s.checkpointEvery > 0 && step % s.checkpointEvery === 0) || step === s.steps) checkpointDir = await checkpoint(opts, optimizer, state)
    }
    return { stopped: false, step: state.step, checkpointDir, lastMetrics }
  } finally {
    optimizer.dispose()
  }
}

function freshState(referenceDir: string): PpoTrainerState {
  return { step: 0, referenceDir: path.resolve(referenceDir), goldPoints: [], lastOverOptimisationWarning: null, checkpoints: [] }
}

/** The prompts of step `step` (1-based): consecutive slices of a per-pass shuffle seeded by (seed, pass). */
export function promptsForStep(step: number, count: number, batchSize: number, seed: number): number[] {
  const out: number[] = []
  for (let k = 0; k < batchSize; k++) {
    const flat = (step - 1) * batchSize + k
    const pass = Math.floor(flat / count)
    out.push(permutation(count, seedOf(seed, pass, 0x9e37))[flat % count])
  }
  return out
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, seed: number): number[] {
  const rand = mulberry32(seed)
  const order = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

function seedOf(seed: number, a: number, b: number): number {
  return (Math.imul(seed + 1, 0x85ebca6b) ^ Math.imul(a + 1, 0xc2b2ae35) ^ Math.imul(b + 1, 0x27d4eb2f)) >>> 0
}

const mean = (xs: number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length)

async function ppoStep(opts: PpoLoopOptions, optimizer: AdamW, state: PpoTrainerState, step: number): Promise<Record<string, number>> {
  const { ctx, settings: s, tokenizer } = opts
  const rolloutStart = performance.now()

  // 1. Rollout.
  const picked = promptsForStep(step, opts.prompts.length, s.batchSize, s.seed).map((i) => opts.prompts[i])
  const seeds = picked.map((_, i) => seedOf(s.seed, step, i))
  const responses = await generateResponses(opts.policy, picked.map((p) => p.ids), seeds, {
    maxNewTokens: s.maxNewTokens,
    temperature: s.temperature,
    stopId: tokenizer.special.end_of_turn,
    signal: ctx.signal,
  })
  const rollouts: ScoredRollout[] = picked.map((prompt, i) => ({ prompt, response: responses[i], text: tokenizer.decode(responses[i], { skipSpecial: true }) }))
  const packed = packRollouts(picked.map((p) => p.ids), responses, tokenizer.special.pad)

  // 2. One forward pass of the policy (with values and entropy) and of the reference.
  const { logp, values, entropy, refLogp } = tf.tidy(() => {
    const tokens = tf.tensor2d(packed.tokens, undefined, 'int32')
    const targets = tf.tensor2d(packed.targets, undefined, 'int32')
    const now = policyOutputs(opts.policy, tokens, targets, s.temperature, opts.value, true)
    const ref = referenceOutputs(opts, tokens, targets)
    return { logp: now.logp, values: now.values!, entropy: now.entropy!, refLogp: ref.logp }
  })
  const oldLogp = await toRows(logp)
  const refRows = await toRows(refLogp)
  const entropyRows = await toRows(entropy)
  const mask = packed.mask
  const oldValues = (await toRows(values)).map((row, b) => row.map((v, t) => (mask[b][t] ? v : 0)))

  // 3. Scores through the reward rule; 4. per-token rewards, GAE, whitened advantages.
  const raw = await opts.score(rollouts)
  const safety = picked.map((p) => p.safety)
  const endOfTurn = tokenizer.special.end_of_turn
  const eos = { missingEosPenalty: s.missingEosPenalty, finished: responses.map((r) => r[r.length - 1] === endOfTurn) }
  const combined = batchRewards(raw, safety, { whiten: false, ...eos })
  const scores = batchRewards(raw, safety, { whiten: s.whitenScores, clip: s.scoreClip, ...eos })
  const { rewards, kl, nonScore } = tokenRewards(scores, oldLogp, refRows, mask, s.klCoef, s.klEstimator)
  const { advantages: rawAdvantages, returns } = gae(rewards, oldValues, mask, s.gamma, s.lam)
  const tokenCount = mask.flat().reduce((a, m) => a + m, 0)
  const advantages = tokenCount >= 2 ? maskedWhiten(rawAdvantages, mask) : rawAdvantages
  const rolloutSeconds = (performance.now() - rolloutStart) / 1000

  // 5. PPO epochs over minibatches.
  const learnStart = performance.now()
  const learned = await learn(opts, optimizer, step, { tokens: packed.tokens, targets: packed.targets, mask, oldLogp, oldValues, advantages, returns })
  const learnSeconds = (performance.now() - learnStart) / 1000

  const rows = rollouts.length
  const klPerRow = kl.map((row) => row.reduce((a, k) => a + k, 0))
  const sumMasked = (r: number[][]) => r.map((row, b) => row.reduce((a, x, t) => a + (mask[b][t] ? x : 0), 0))
  const metrics: Record<string, number> = {
    'objective/kl': mean(klPerRow),
    'objective/entropy': mean(sumMasked(oldLogp).map((x) => -x)),
    'objective/non_score_reward': mean(nonScore),
    'objective/rlhf_reward': mean(combined.map((c, b) => c + nonScore[b])),
    'objective/scores': mean(combined),
    'policy/entropy_avg': tokenCount > 0 ? sumMasked(entropyRows).reduce((a, b) => a + b, 0) / tokenCount : 0,
    ...learned,
    'ppo/response_length': mean(responses.map((r) => r.length)),
    'val/num_eos_tokens': eos.finished.filter(Boolean).length,
    'ppo/lr': s.lr,
    'time/rollout_s': rolloutSeconds,
    'time/learn_s': learnSeconds,
    ...goldAndWarning(ctx, state, step, rollouts, mean(combined), s.goldWindow),
  }
  if (s.sampleEvery > 0 && (step % s.sampleEvery === 0 || step === s.steps)) {
    for (let i = 0; i < Math.min(s.sampleCount, rows); i++) {
      ctx.tracker.logSample({ step, prompt: rollouts[i].prompt.text, response: rollouts[i].text, scores: { reward: combined[i], kl: klPerRow[i] } })
    }
  }
  return metrics
}

interface LearnBatch {
  tokens: number[][]
  targets: number[][]
  mask: number[][]
  oldLogp: number[][]
  oldValues: number[][]
  advantages: number[][]
  returns: number[][]
}

/** K epochs of minibatch steps; the means of TRL's policy/loss/value statistics over the steps taken. */
async function learn(opts: PpoLoopOptions, optimizer: AdamW, step: number, batch: LearnBatch): Promise<Record<string, number>> {
  const { settings: s } = opts
  const params = ppoParams(opts.policy, opts.value, opts.adapterBase !== undefined)
  const stats: Record<string, number[]> = { approxkl: [], clipfrac: [], policy: [], value: [], vclipfrac: [], gradNorm: [] }
  let epochsDone = 0
  let stoppedEarly = 0
  epochs: for (let epoch = 0; epoch < s.ppoEpochs; epoch++) {
    const order = permutation(batch.tokens.length, seedOf(s.seed, step, 1000 + epoch))
    for (let start = 0; start < order.length; start += s.miniBatchSize) {
      const rows = order.slice(start, start + s.miniBatchSize)
      const pick = (r: number[][]) => rows.map((i) => r[i])
      const m = await ppoMinibatchStep(opts, optimizer, params, {
        tokens: pick(batch.tokens),
        targets: pick(batch.targets),
        mask: pick(batch.mask),
        oldLogp: pick(batch.oldLogp),
        oldValues: pick(batch.oldValues),
        advantages: pick(batch.advantages),
        returns: pick(batch.returns),
      })
      stats.approxkl.push(m.approxkl)
      stats.clipfrac.push(m.clipfrac)
      stats.policy.push(m.policyLoss)
      stats.value.push(m.valueLoss)
      stats.vclipfrac.push(m.valueClipfrac)
      stats.gradNorm.push(m.gradNorm)
      if (s.targetKl > 0 && m.approxkl > s.targetKl) {
        stoppedEarly = 1
        epochsDone = epoch + 1
        break epochs
      }
    }
    epochsDone = epoch + 1
  }
  return {
    'policy/approxkl_avg': mean(stats.approxkl),
    'policy/clipfrac_avg': mean(stats.clipfrac),
    'loss/policy_avg': mean(stats.policy),
    'loss/value_avg': mean(stats.value),
    'val/clipfrac_avg': mean(stats.vclipfrac),
    'ppo/grad_norm': mean(stats.gradNorm),
    'ppo/epochs': epochsDone,
    'ppo/early_stopped': stoppedEarly,
  }
}

/** The PPO loss of one minibatch (policy loss + vf_coef * value loss) and its parts. Differentiable. */
export function ppoLoss(policy: Llama, value: ValueModel, b: LearnBatch, s: Pick<PpoSettings, 'temperature' | 'clipRange' | 'clipRangeValue' | 'vfCoef'>) {
  return tf.tidy(() => {
    const t = (rows: number[][], dtype: 'int32' | 'float32' = 'float32') => tf.tensor2d(rows, undefined, dtype)
    const mask = t(b.mask)
    const out = policyOutputs(policy, t(b.tokens, 'int32'), t(b.targets, 'int32'), s.temperature, value)
    const pg = clippedPolicyLoss(out.logp, t(b.oldLogp), t(b.advantages), mask, s.clipRange)
    const vf = clippedValueLoss(out.values!, t(b.oldValues), t(b.returns), mask, s.clipRangeValue)
    return { loss: tf.add(pg.loss, tf.mul(vf.loss, s.vfCoef)) as tf.Scalar, pg, vf }
  })
}

async function ppoMinibatchStep(opts: PpoLoopOptions, optimizer: AdamW, params: Record<string, tf.Variable>, b: LearnBatch) {
  const { settings: s } = opts
  let parts!: { policyLoss: tf.Scalar; valueLoss: tf.Scalar; clipfrac: tf.Scalar; approxkl: tf.Scalar; valueClipfrac: tf.Scalar }
  const { value, grads } = tf.variableGrads(() => {
    const l = ppoLoss(opts.policy, opts.value, b, s)
    parts = {
      policyLoss: tf.keep(l.pg.loss),
      valueLoss: tf.keep(l.vf.loss),
      clipfrac: tf.keep(l.pg.clipfrac),
      approxkl: tf.keep(l.pg.approxkl),
      valueClipfrac: tf.keep(l.vf.clipfrac),
    }
    return l.loss
  }, Object.values(params))
  // Keyed by parameter name in the params' order: tf.variableGrads keys by variable name, whose
  // order follows creation order, and the global norm's sum must not depend on that (a resumed
  // run creates its variables in another order, and a 1-ulp change of the clip factor moves the curve).
  const named: Record<string, tf.Tensor> = {}
  for (const [name, v] of Object.entries(params)) if (grads[v.name]) named[name] = grads[v.name]
  const norm = tf.tidy(() => {
    const clip = s.gradClip > 0 ? clipCoefficient(named, s.gradClip) : { scale: undefined, norm: tf.scalar(0) }
    optimizer.applyGradients(named, s.lr, clip.scale) // the clip as a gradient scale: no scaled copies
    return clip.norm
  })
  // One asynchronous read of every figure (a GPU backend has no synchronous one).
  const readout = tf.stack([norm, parts.policyLoss, parts.valueLoss, parts.clipfrac, parts.approxkl, parts.valueClipfrac]) // [6]
  const [gradNorm, policyLoss, valueLoss, clipfrac, approxkl, valueClipfrac] = await readout.data()
  tf.dispose([readout, norm, value, ...Object.values(grads), ...Object.values(parts)])
  return { policyLoss, valueLoss, clipfrac, approxkl, valueClipfrac, gradNorm }
}

/** Gold figures for this batch and, when proxy rises while gold falls over the window, a warning event. */
function goldAndWarning(ctx: StageContext, state: PpoTrainerState, step: number, rollouts: ScoredRollout[], proxy: number, window: number): Record<string, number> {
  const gold = goldMetrics(rollouts.map((r) => ({ gold: r.prompt.gold as GoldItem | undefined, response: r.text })))
  if (gold['gold/helpfulness'] === undefined) return gold
  state.goldPoints.push({ step, proxy, gold: gold['gold/helpfulness'] })
  state.goldPoints = state.goldPoints.slice(-Math.max(window, 2))
  const found = overOptimisation(state.goldPoints, window)
  const quiet = state.lastOverOptimisationWarning !== null && step - state.lastOverOptimisationWarning < window
  if (found && !quiet) {
    state.lastOverOptimisationWarning = step
    ctx.tracker.logEvent(
      'warning',
      `reward over-optimisation: over the last ${window} steps the reward model's score rose (slope ${found.proxySlope.toFixed(4)}/step) while gold helpfulness fell (${found.goldSlope.toFixed(4)}/step)`,
      { kind: 'reward_overoptimisation', window, ...found },
      step,
    )
  }
  return gold
}

/** The frozen reference's log-probs: the reference model, or (LoRA) the policy with its adapters off. */
function referenceOutputs(opts: PpoLoopOptions, tokens: tf.Tensor2D, targets: tf.Tensor2D) {
  const adapters = opts.adapterBase !== undefined ? opts.policy.adapters : null
  if (adapters) return adapters.withDisabled(() => policyOutputs(opts.policy, tokens, targets, opts.settings.temperature))
  return policyOutputs(opts.reference, tokens, targets, opts.settings.temperature)
}

// ---------------------------------------------------------------------------------------------
// Checkpoints and resume

async function checkpoint(opts: PpoLoopOptions, optimizer: AdamW, state: PpoTrainerState): Promise<string> {
  const { ctx, policy, value } = opts
  const dir = path.join(ctx.runDir, CHECKPOINTS_FOLDER, `step-${String(state.step).padStart(7, '0')}`)
  if (!state.checkpoints.includes(dir)) state.checkpoints.push(dir)
  const removable = state.checkpoints.slice(0, Math.max(0, state.checkpoints.length - opts.settings.keepLast))
  state.checkpoints = state.checkpoints.slice(removable.length)
  ctx.tracker.flush()
  // The separate value trunk first: a policy checkpoint on disk means its value trunk is too.
  if (value.trunk) await saveCheckpoint(dir + VALUE_TRUNK_SUFFIX, { config: value.trunk.config, weights: value.trunk.weights, tokenizer: opts.tokenizer, step: state.step })
  await saveCheckpoint(dir, {
    config: policy.config,
    weights: { ...(opts.adapterBase !== undefined && policy.adapters ? policy.adapters.variables() : policy.weights), [value.head.weightName]: value.head.weight },
    ...(opts.adapterBase !== undefined && policy.adapters ? { adapter: { settings: policy.adapters.settings, baseDir: opts.adapterBase } } : {}),
    tokenizer: opts.tokenizer,
    optimizer: optimizer.getState(),
    trainerState: state,
    runConfig: opts.runConfig,
    stage: opts.stage,
    runId: ctx.runId,
  })
  ctx.tracker.logArtifact({ kind: 'checkpoint', path: dir, step: state.step, meta: { value_model: value.trunk ? 'separate' : 'shared' } })
  for (const old of removable) {
    if (fs.existsSync(old)) ctx.tracker.removeArtifact(old)
    fs.rmSync(old + VALUE_TRUNK_SUFFIX, { recursive: true, force: true })
  }
  ctx.tracker.flush()
  return dir
}

/** The trainer state and optimiser moments of a PPO checkpoint (weights are loaded by the stage). */
export function readPpoTrainerState(dir: string): PpoTrainerState {
  const loaded = loadCheckpoint(dir)
  try {
    if (!loaded.trainerState) throw new Error(`checkpoint ${dir} has no trainer_state.json, so it cannot be resumed`)
    return loaded.trainerState as unknown as PpoTrainerState
  } finally {
    loaded.dispose()
  }
}

function resumeState(dir: string, optimizer: AdamW): PpoTrainerState {
  const loaded = loadCheckpoint(dir)
  try {
    if (!loaded.trainerState || !loaded.optimizer) throw new Error(`checkpoint ${dir} has no trainer_state.json or optimizer.safetensors, so it cannot be resumed`)
    optimizer.setState(loaded.optimizer as AdamWState)
    return loaded.trainerState as unknown as PpoTrainerState
  } finally {
    loaded.dispose() // the optimiser moments too: setState copied them
  }
}
