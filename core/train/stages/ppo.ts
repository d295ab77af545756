// Stage `ppo`: RLHF with proximal policy optimisation (Llama 2 section 3.2.3, RECIPE.md section 5).
// The policy starts from an SFT or rejection-sampling checkpoint; a frozen copy of it is the
// reference for the KL penalty; one or two reward models (helpful, safety) score the rollouts
// through the paper's reward rule (core/rl/reward.ts); a value head sits on the policy's trunk or
// on a trunk of its own. The loop is core/rl/ppoLoop.ts. Checkpoints are LM checkpoints of the
// policy (chat, eval and SFT load them) with `value_head.weight`, the optimiser and the trainer
// state beside it, so a stopped or crashed run resumes on the same curve.
import { scoreConversations } from '../../eval/rewardScore'
import { z } from 'zod'
import { goldItemOf, isSafetyPrompt, mixBySafetyShare, readRlhfPrompts, safetyMixShape } from '../../rl/prompts'
import { encodeChatPrompt } from '../../data/chatTemplate'
import type { PromptItem } from '../../data/prompts'
import { ScalarHead } from '../../model/heads'
import { loadModel, type LoadedModel } from '../../model/load'
import { foldAdaptersInPlace } from '../../model/lora'
import { finetuningShape, freezeTrunk, prepareFinetuning } from './finetuning'
import { countParameters } from '../../model/config'
import type { Tokenizer } from '../../tokenizer'
import { ppoLoop, VALUE_TRUNK_SUFFIX, type PpoSettings, type ScoredRollout } from '../../rl/ppoLoop'
import type { RewardScores } from '../../rl/reward'
import type { PpoPrompt } from '../../rl/rollout'
import { parentCheckpoint } from './common'
import { defineStage, type EstimateFrom, type StageContext, type StageEstimate, type StageResult } from './types'
import { trainingMemory } from '../memoryEstimate'
import type { LoraTarget } from '../../model/lora'

const int = (min: number) => z.number().int().min(min)
const num = (min: number, max?: number) => (max === undefined ? z.number().min(min) : z.number().min(min).max(max))

const schema = z
  .object({
    policy: z.string().optional().meta({ group: 'model', path: 'model', help: 'The policy to optimise: an SFT or rejection-sampling run id or checkpoint folder. A frozen copy is the KL reference.' }),
    rm_helpful: z.string().optional().meta({ group: 'model', path: 'model', help: 'Helpfulness reward model (a reward run id or folder). At least one of rm_helpful / rm_safety.' }),
    rm_safety: z.string().optional().meta({ group: 'model', path: 'model', help: 'Safety reward model: decides on safety prompts and whenever sigmoid(score) < 0.15.' }),
    prompts: z.string().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Prompt set (JSONL: prompt or messages, id, category, tags). category or a tag "safety" (or gold kind "adversarial") marks a safety prompt.' }),
    ...safetyMixShape,
    value_model: z.enum(['shared', 'separate']).default('shared').meta({ group: 'model', help: 'The value head on the policy\'s trunk (shared) or on a copy of the trunk trained with it (separate).' }),
    // lora: the reference is the policy with its adapters off, so no second model is loaded. PPO
    // runs without LoRA dropout (the rollout's log-probs must be those the update starts from).
    ...finetuningShape,
    seed: int(0).default(0).meta({ group: 'run', help: 'Seeds prompt order, sampling, minibatch order and the value head.' }),
    steps: int(1).default(100).meta({ group: 'schedule', help: 'PPO iterations: each generates batch_size rollouts and learns from them.' }),
    batch_size: int(1).default(8).meta({ group: 'schedule', help: 'Prompts (rollouts) per iteration.' }),
    mini_batch_size: int(1).default(4).meta({ group: 'schedule', help: 'Rollouts per gradient step.' }),
    ppo_epochs: int(1).default(4).meta({ group: 'schedule', help: 'Passes over each batch of rollouts (TRL num_ppo_epochs).' }),
    lr: num(0).default(1e-5).meta({ group: 'optimiser', help: 'Constant learning rate. Llama 2 used 1e-6 at 7B-70B; tiny models need more (tiny preset: 1e-4).' }),
    beta1: num(0, 1).default(0.9).meta({ group: 'optimiser', help: 'AdamW beta1.' }),
    beta2: num(0, 1).default(0.95).meta({ group: 'optimiser', help: 'AdamW beta2 (Llama 2: 0.95).' }),
    adam_eps: num(0).default(1e-5).meta({ group: 'optimiser', help: 'AdamW epsilon (Llama 2: 1e-5).' }),
    weight_decay: num(0).default(0.1).meta({ group: 'optimiser', help: 'AdamW weight decay on matrices (Llama 2: 0.1).' }),
    grad_clip: num(0).default(1.0).meta({ group: 'optimiser', help: 'Clip gradients to this global norm (0 = none; Llama 2: 1.0).' }),
    kl_coef: num(0).default(0.01).meta({ group: 'ppo', help: 'beta of the per-token KL penalty against the reference (Llama 2: 0.01 at 7B/13B, 0.005 at 34B/70B).' }),
    kl_estimator: z.enum(['k1', 'k2', 'k3']).default('k1').meta({ group: 'ppo', help: 'Per-token KL estimator: k1 = log pi - log pi_ref (TRL default), k2 = half its square, k3 = (r - 1) - log r.' }),
    gamma: num(0, 1).default(1).meta({ group: 'ppo', help: 'GAE discount.' }),
    lam: num(0, 1).default(0.95).meta({ group: 'ppo', help: 'GAE lambda.' }),
    cliprange: num(0).default(0.2).meta({ group: 'ppo', help: 'Policy ratio clip (epsilon).' }),
    cliprange_value: num(0).default(0.2).meta({ group: 'ppo', help: 'How far new values may move from the rollout\'s before the value loss is clipped.' }),
    vf_coef: num(0).default(0.1).meta({ group: 'ppo', help: 'Weight of the value loss (TRL vf_coef).' }),
    target_kl: num(0).default(0.1).meta({ group: 'ppo', help: 'Stop a batch\'s remaining epochs when a minibatch\'s approximate KL exceeds this (0 = never).' }),
    whiten_scores: z.boolean().default(true).meta({ group: 'reward', help: 'Whiten the combined reward over each batch (Llama 2: whiten(logit(R_c))).' }),
    score_clip: num(0).default(0).meta({ group: 'reward', help: 'Clip whitened scores to [-x, x] (0 = none).' }),
    missing_eos_penalty: num(0).default(0).meta({ group: 'reward', help: 'Subtracted from the score of a response cut at max_new_tokens before whitening (TRL missing_eos_penalty; 0 = none). The reward model scores a cut answer as if complete.' }),
    max_new_tokens: int(1).default(48).meta({ group: 'generation', help: 'Longest response per rollout.' }),
    temperature: z.number().gt(0).default(1).meta({ group: 'generation', help: 'Sampling temperature of rollouts (log-probs use the same temperature).' }),
    sample_every: int(0).default(10).meta({ group: 'logging', help: 'Store a sample table (prompt, response, reward, KL) every N steps (0 = only at the end).' }),
    sample_count: int(0).default(4).meta({ group: 'logging', help: 'Rows per sample table.' }),
    gold_window: int(2).default(10).meta({ group: 'logging', help: 'Steps over which reward up / gold helpfulness down raises an over-optimisation warning (gold-checked prompts only).' }),
    checkpoint_every: int(0).default(25).meta({ group: 'checkpoints', help: 'Save a checkpoint every N steps (0 = only at the end).' }),
    keep_last: int(1).default(2).meta({ group: 'checkpoints', help: 'Keep the last K checkpoints.' }),
  })
  .strict()
  .superRefine((c, issues) => {
    if (c.mini_batch_size > c.batch_size) issues.addIssue({ code: 'custom', path: ['mini_batch_size'], message: `must be at most batch_size (${c.batch_size})` })
  })

export type PpoConfig = z.output<typeof schema>

export function ppoSettings(c: PpoConfig): PpoSettings {
  return {
    seed: c.seed,
    steps: c.steps,
    batchSize: c.batch_size,
    miniBatchSize: c.mini_batch_size,
    ppoEpochs: c.ppo_epochs,
    lr: c.lr,
    beta1: c.beta1,
    beta2: c.beta2,
    adamEps: c.adam_eps,
    weightDecay: c.weight_decay,
    gradClip: c.grad_clip,
    klCoef: c.kl_coef,
    klEstimator: c.kl_estimator,
    gamma: c.gamma,
    lam: c.lam,
    clipRange: c.cliprange,
    clipRangeValue: c.cliprange_value,
    vfCoef: c.vf_coef,
    targetKl: c.target_kl,
    maxNewTokens: c.max_new_tokens,
    temperature: c.temperature,
    whitenScores: c.whiten_scores,
    scoreClip: c.score_clip,
    missingEosPenalty: c.missing_eos_penalty,
    sampleEvery: c.sample_every,
    sampleCount: c.sample_count,
    checkpointEvery: c.checkpoint_every,
    keepLast: c.keep_last,
    goldWindow: c.gold_window,
  }
}

/** The prompt set as PPO prompts; prompts leaving no room for a response are dropped (counted). */
export function ppoPrompts(items: PromptItem[], tokenizer: Tokenizer, maxSeqLen: number): { prompts: PpoPrompt[]; tooLong: number } {
  const prompts: PpoPrompt[] = []
  let tooLong = 0
  for (const item of items) {
    const ids = encodeChatPrompt(tokenizer, item.messages)
    if (ids.length >= maxSeqLen) {
      tooLong++
      continue
    }
    prompts.push({ id: item.id, ids, text: item.prompt, messages: item.messages, safety: isSafetyPrompt(item), gold: goldItemOf(item) })
  }
  return { prompts, tooLong }
}

/**
 * The prompts PPO draws its batches from: the files' prompts as they are, or, with
 * safety_prompt_share, as many drawn with that share of safety prompts (repeating the smaller pool).
 */
export function mixedPrompts(config: PpoConfig): { items: PromptItem[]; skipped: number } {
  const { items, skipped } = readRlhfPrompts(config)
  if (config.safety_prompt_share === undefined) return { items, skipped }
  const files = [config.prompts, config.safety_prompts].filter(Boolean).join(' and ')
  return { items: mixBySafetyShare(items, { share: config.safety_prompt_share, count: items.length, seed: config.seed, files }), skipped }
}

/**
 * Scores rollouts with a reward model: the conversation and the response, encoded with the reward
 * model's own tokenizer and chat template, scored at the last token (right-padded rows).
 */
export function rewardModelScorer(rm: LoadedModel): (rollouts: ScoredRollout[]) => Promise<number[]> {
  const head = rm.heads.reward
  if (!head) throw new Error('rewardModelScorer: the reward model was loaded without its score head')
  // The reward stage's own encoding (core/eval/rewardScore.ts): the conversation and the answer as
  // the chat template closes them, read at the last real token as in training.
  return (rollouts) => scoreConversations({ model: rm.model, head }, rm.tokenizer, rollouts.map((r) => ({ messages: r.prompt.messages, answer: r.text })))
}

async function run(ctx: StageContext, config: PpoConfig): Promise<StageResult> {
  const started = Date.now()
  const policyDir = parentCheckpoint(ctx, 'policy', config.policy, 'policy')
  if (!policyDir) throw new Error('ppo needs a policy: set policy=<SFT or rejection-sampling run id or checkpoint folder>')
  const helpfulDir = parentCheckpoint(ctx, 'reward_helpful', config.rm_helpful, 'rm_helpful')
  const safetyDir = parentCheckpoint(ctx, 'reward_safety', config.rm_safety, 'rm_safety')
  if (!helpfulDir && !safetyDir) throw new Error('ppo needs a reward model: set rm_helpful and/or rm_safety (reward run ids or folders)')

  const owned: LoadedModel[] = []
  const load = (dir: string, opts: Parameters<typeof loadModel>[1] = {}) => {
    const m = loadModel(dir, opts)
    owned.push(m)
    return m
  }
  let valueHead: ScalarHead | undefined
  try {
    // A resume takes the policy, its value head and a separate value trunk from the checkpoint;
    // the reference is always the original policy folder (the loop checks the checkpoint agrees).
    const policy = load(ctx.resumeFrom ?? policyDir, { heads: ctx.resumeFrom ? ['value'] : [] })
    // full: a LoRA policy folder's adapters are folded into the trunk PPO trains. lora: fresh
    // adapters (a resume brings its own), and the reference is the same trunk with them off.
    const lora = config.finetuning === 'lora'
    const adapterBase = lora && ctx.resumeFrom ? policyDir : prepareFinetuning(policy.model, config, policyDir, config.seed)
    if (lora) freezeTrunk(policy.model) // (a resume's adapters come with the folder, unfrozen)
    const reference = lora ? policy : load(policyDir)
    if (!ctx.resumeFrom) valueHead = ScalarHead.create('value', policy.config.dim, config.seed)
    const head = policy.heads.value ?? valueHead!
    const trunk = config.value_model === 'separate' ? load(ctx.resumeFrom ? ctx.resumeFrom + VALUE_TRUNK_SUFFIX : policyDir).model : undefined
    if (trunk) foldAdaptersInPlace(trunk)
    const rmHelpful = helpfulDir ? load(helpfulDir, { heads: ['reward'], scoringOnly: true }) : undefined
    const rmSafety = safetyDir ? load(safetyDir, { heads: ['reward'], scoringOnly: true }) : undefined
    const scoreHelpful = rmHelpful && rewardModelScorer(rmHelpful)
    const scoreSafety = rmSafety && rewardModelScorer(rmSafety)

    const { items, skipped } = mixedPrompts(config)
    const { prompts, tooLong } = ppoPrompts(items, policy.tokenizer, policy.config.max_seq_len)
    if (prompts.length === 0) throw new Error(`${config.prompts}: every prompt is longer than the policy's context (${policy.config.max_seq_len} tokens)`)
    if (tooLong + skipped > 0) ctx.tracker.logEvent('warning', `${tooLong} prompt(s) longer than the context dropped, ${skipped} invalid skipped`)
    ctx.tracker.logParams({ n_params: countParameters(policy.config), prompts: prompts.length, safety_prompts: prompts.filter((p) => p.safety).length, safety_share_drawn: prompts.filter((p) => p.safety).length / prompts.length, gold_prompts: prompts.filter((p) => p.gold).length })
    ctx.log(`ppo: policy ${policyDir}; ${prompts.length} prompts; reward models: ${[helpfulDir && `helpful ${helpfulDir}`, safetyDir && `safety ${safetyDir}`].filter(Boolean).join(', ')}; value model ${config.value_model}`)

    const result = await ppoLoop({
      ctx,
      policy: policy.model,
      reference: reference.model,
      value: { head, trunk },
      tokenizer: policy.tokenizer,
      prompts,
      score: async (rollouts) => {
        const helpful = await scoreHelpful?.(rollouts)
        const safety = await scoreSafety?.(rollouts)
        return rollouts.map((_, i): RewardScores => ({ helpful: helpful?.[i], safety: safety?.[i] }))
      },
      settings: ppoSettings(config),
      referenceDir: policyDir,
      adapterBase,
      stage: 'ppo',
      runConfig: config,
    })
    const m = result.lastMetrics
    return {
      stopped: result.stopped,
      checkpointDir: result.checkpointDir,
      summary: {
        steps: result.step,
        ...(m['objective/scores'] !== undefined ? { reward: m['objective/scores'], kl: m['objective/kl'], rlhf_reward: m['objective/rlhf_reward'] } : {}),
        ...(m['gold/helpfulness'] !== undefined ? { gold_helpfulness: m['gold/helpfulness'] } : {}),
        ...(m['gold/violation_rate'] !== undefined ? { gold_violation_rate: m['gold/violation_rate'] } : {}),
        seconds: Math.round((Date.now() - started) / 100) / 10,
      },
    }
  } finally {
    owned.forEach((m) => m.dispose())
    valueHead?.dispose()
  }
}

/**
 * PPO's memory: the policy's update on mini_batch_size rollouts as long as the context allows,
 * plus the frozen reference (a second copy of the weights, unless LoRA switches the adapters off
 * instead) and a separate value trunk (trained fully beside the policy). The reward models and
 * rollout generation are not counted (they run before the update, with no gradients).
 */
function estimate(config: PpoConfig, from?: EstimateFrom): StageEstimate | undefined {
  if (!from) return undefined
  const model = from.model
  const seq = model.max_seq_len
  // PPO's update keeps each layer's activations (no LoRA dropout, no recomputation).
  const lora = config.finetuning === 'lora' ? { rank: config.lora_rank, targets: config.lora_targets as LoraTarget[], recompute: false, dropout: 0 } : undefined
  const policy = trainingMemory(model, { batch: config.mini_batch_size, seq, lora })
  const notes = [...policy.notes]
  let { weightsBytes, gradientBytes, optimizerBytes, activationBytes, trainedParams } = policy
  if (!lora) {
    weightsBytes += policy.params * 4
    notes.push('+ the frozen reference policy (a second copy of the weights)')
  } else notes.push('the reference policy is the same trunk with the adapters off: no second copy')
  if (config.value_model === 'separate') {
    const value = trainingMemory(model, { batch: config.mini_batch_size, seq, logits: false })
    weightsBytes += value.weightsBytes
    gradientBytes += value.gradientBytes
    optimizerBytes += value.optimizerBytes
    activationBytes += value.activationBytes
    trainedParams += value.trainedParams
    notes.push('+ the separate value trunk, trained fully')
  }
  const { runtimeBytes, threadsBytes } = policy
  const totalBytes = runtimeBytes + weightsBytes + gradientBytes + optimizerBytes + activationBytes + threadsBytes
  return { params: policy.params, trainedParams, weightsBytes, gradientBytes, optimizerBytes, activationBytes, runtimeBytes, threadsBytes, totalBytes, notes }
}

export const ppoStage = defineStage({
  name: 'ppo',
  title: 'RLHF: PPO',
  description:
    'Optimise a policy against reward models with PPO (Llama 2 section 3.2.3): the paper\'s safety/helpful reward rule, ' +
    'whitened; a per-token KL penalty against the frozen starting policy; GAE; clipped policy and value losses. Resumes exactly.',
  schema,
  presets: {
    tiny: { lr: 1e-4, batch_size: 8, mini_batch_size: 4, max_new_tokens: 24, steps: 50, kl_coef: 0.05 },
  },
  parents: [
    { role: 'policy', key: 'policy', required: true },
    { role: 'reward_helpful', key: 'rm_helpful' },
    { role: 'reward_safety', key: 'rm_safety' },
  ],
  cli: {
    command: 'ppo',
    summary: 'ppo --policy <run|ckpt> --prompts <f>  RLHF with PPO against reward models',
    usage: [
      'Usage: workbench ppo --policy <run|checkpoint> --prompts <file.jsonl> [--rm-helpful <run>] [--rm-safety <run>] [options]',
      '',
      '--policy is an SFT or rejection-sampling run (or checkpoint folder); give at least one reward model.',
      'The combined reward is R_safety on safety prompts (category/tag "safety") or when sigmoid(R_safety) < 0.15,',
      'else R_helpful; whitened over each batch, minus kl_coef x KL to the starting policy per token.',
    ].join('\n'),
    flags: { policy: 'policy', prompts: 'prompts', 'rm-helpful': 'rm_helpful', 'rm-safety': 'rm_safety', 'safety-prompts': 'safety_prompts', 'safety-prompt-share': 'safety_prompt_share' },
  },
  precheck: (config) => {
    mixedPrompts(config) // reads both files and checks the share can be met
  },
  estimate,
  run,
})
