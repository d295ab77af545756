// The reward PPO maximises (Llama 2, section 3.2.3; RECIPE.md section 5):
//
//   R_c(g | p) = R_s(g | p)   if the prompt is a safety prompt or sigmoid(R_s(g | p)) < 0.15
//              = R_h(g | p)   otherwise
//   R(g | p)   = whiten(logit(R_c(g | p))) - beta * KL(pi_theta(g | p) || pi_0(g | p))
//
// About logit(): the paper's reward models output a probability-like score in (0, 1), and
// logit() turns it back into an unbounded scalar before whitening. Our reward models (like
// Hugging Face's LlamaForSequenceClassification with one label, and TRL's reward trainer) output
// the raw scalar r itself, whose probability reading is sigmoid(r); so logit(sigmoid(r)) = r and
// the rule whitens r directly. The 0.15 safety threshold is on the probability scale, so it is
// compared with sigmoid(R_s). Whitening is over the batch's combined scores, with an optional clip.
//
// The KL term is applied per token, as TRL's PPOTrainer does: every response token t gets
// -beta * kl_t (kl_t from one of the estimators below, of log pi_theta - log pi_0 at that token),
// and the last response token also gets the sequence's score.
import { whiten } from './stats'

/** The two reward models' raw scores for one response; either may be absent (that model is not used). */
export interface RewardScores {
  helpful?: number
  safety?: number
}

/** Llama 2's threshold on sigmoid(R_safety): below it the safety reward decides, whatever the prompt. */
export const SAFETY_THRESHOLD = 0.15

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))
}

/** Which reward the rule picks for one response. */
export function combinedReward(scores: RewardScores, isSafetyPrompt: boolean, threshold = SAFETY_THRESHOLD): number {
  const { helpful, safety } = scores
  if (helpful === undefined && safety === undefined) throw new Error('combinedReward: no reward model scored this response (give rm_helpful, rm_safety, or both)')
  if (safety === undefined) return helpful!
  if (helpful === undefined) return safety
  return isSafetyPrompt || sigmoid(safety) < threshold ? safety : helpful
}

export interface BatchRewardOptions {
  threshold?: number
  /** Whiten the combined scores over the batch (default true, as the paper). */
  whiten?: boolean
  /** Clip the whitened scores to [-clip, clip] (0 or absent: none). */
  clip?: number
  /**
   * Subtracted from the combined score of a response that did not end with the end-of-turn token
   * (cut at the token budget), before whitening: TRL's `missing_eos_penalty`. A reward model scores
   * a cut answer as if complete, so without it PPO is not taught to finish. 0 or absent: none.
   */
  missingEosPenalty?: number
  /** Per response: ended with the end-of-turn token. Needed with missingEosPenalty. */
  finished?: boolean[]
}

/** The combined, whitened score of every response in a batch (logit(sigmoid(r)) = r, see the file comment). */
export function batchRewards(scores: RewardScores[], isSafetyPrompt: boolean[], opts: BatchRewardOptions = {}): number[] {
  if (scores.length !== isSafetyPrompt.length) throw new Error(`batchRewards: ${scores.length} scores for ${isSafetyPrompt.length} prompts`)
  const penalty = opts.missingEosPenalty ?? 0
  if (penalty > 0 && opts.finished?.length !== scores.length) throw new Error(`batchRewards: missingEosPenalty needs one finished flag per response (${opts.finished?.length ?? 0} for ${scores.length})`)
  const combined = scores.map((s, i) => combinedReward(s, isSafetyPrompt[i], opts.threshold) - (penalty > 0 && !opts.finished![i] ? penalty : 0))
  return opts.whiten === false ? combined : whiten(combined, { clip: opts.clip })
}

/**
 * Estimators of KL(pi || pi_ref) from one sampled token, given log pi and log pi_ref of it
 * (John Schulman, "Approximating KL divergence"; TRL's kl_estimator):
 *   k1 = log pi - log pi_ref                      unbiased, can be negative (TRL's default)
 *   k2 = 0.5 * (log pi - log pi_ref)^2            biased, always >= 0
 *   k3 = (r - 1) - log r, r = pi_ref / pi         unbiased, always >= 0
 */
export type KlEstimator = 'k1' | 'k2' | 'k3'

export function klEstimate(logp: number, logpRef: number, kind: KlEstimator = 'k1'): number {
  const logRatio = logpRef - logp // log(pi_ref / pi)
  if (kind === 'k1') return logp - logpRef
  if (kind === 'k2') return 0.5 * logRatio * logRatio
  return Math.expm1(logRatio) - logRatio
}

export interface TokenRewards {
  /** Per-token reward: -beta * kl, plus the score at each row's last response token. */
  rewards: number[][]
  /** The per-token KL estimate (0 outside the mask). */
  kl: number[][]
  /** -beta * kl summed over each row's response (TRL's non_score_reward, per row). */
  nonScore: number[]
}

/**
 * Per-token rewards for a batch of rollouts, rows aligned with `mask` (1 at response tokens). A
 * row with no response token gets no reward at all (there is no action to credit).
 */
export function tokenRewards(scores: number[], logp: number[][], logpRef: number[][], mask: number[][], beta: number, kind: KlEstimator = 'k1'): TokenRewards {
  if (scores.length !== mask.length || logp.length !== mask.length || logpRef.length !== mask.length) {
    throw new Error(`tokenRewards: ${scores.length} scores, ${logp.length} and ${logpRef.length} log-prob rows for ${mask.length} mask rows`)
  }
  const kl = mask.map((row, b) => row.map((m, t) => (m ? klEstimate(logp[b][t], logpRef[b][t], kind) : 0)))
  const rewards = kl.map((row, b) => row.map((k, t) => (mask[b][t] ? -beta * k : 0)))
  mask.forEach((row, b) => {
    const last = row.lastIndexOf(1)
    if (last >= 0) rewards[b][last] += scores[b]
  })
  const nonScore = kl.map((row) => -beta * row.reduce((a, k) => a + k, 0))
  return { rewards, kl, nonScore }
}
