// core/rl against values computed by hand (each expected number is worked out in the comment
// beside it), following TRL's PPOTrainer formulas.
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { maskedMean, maskedVar, maskedWhiten, whiten } from '../../core/rl/stats'
import { batchRewards, combinedReward, klEstimate, sigmoid, tokenRewards } from '../../core/rl/reward'
import { gae } from '../../core/rl/gae'
import { clippedPolicyLoss, clippedValueLoss, entropyFromLogits } from '../../core/rl/losses'

beforeAll(async () => {
  await initBackend('cpu')
})

describe('the combined reward rule', () => {
  it('uses the safety reward on safety prompts, and when sigmoid(R_safety) < 0.15, else the helpful one', () => {
    // sigmoid(-1) = 0.269 >= 0.15: helpful decides on a plain prompt.
    expect(combinedReward({ helpful: 2, safety: -1 }, false)).toBe(2)
    // A safety prompt: the safety reward, whatever its value.
    expect(combinedReward({ helpful: 2, safety: -1 }, true)).toBe(-1)
    // sigmoid(-2) = 0.119 < 0.15: unsafe enough that safety decides even on a plain prompt.
    expect(combinedReward({ helpful: 2, safety: -2 }, false)).toBe(-2)
    // The threshold is on the probability: logit(0.15) = -1.7346; just above and below it.
    expect(combinedReward({ helpful: 5, safety: -1.73 }, false)).toBe(5)
    expect(combinedReward({ helpful: 5, safety: -1.74 }, false)).toBe(-1.74)
  })

  it('uses the one reward model there is when the other is missing', () => {
    expect(combinedReward({ helpful: 0.5 }, true)).toBe(0.5)
    expect(combinedReward({ safety: 3 }, false)).toBe(3)
    expect(() => combinedReward({}, false)).toThrow(/no reward model/)
  })

  it('whitens the combined scores over the batch (logit(sigmoid(r)) = r) and can clip them', () => {
    // combined: [1, 3, -1 (safety prompt), 5]; mean 2, unbiased var ((1 + 1 + 9 + 9) / 3) = 20/3.
    const scores = [{ helpful: 1, safety: 0 }, { helpful: 3, safety: 0 }, { helpful: 9, safety: -1 }, { helpful: 5 }]
    const out = batchRewards(scores, [false, false, true, false])
    const sd = Math.sqrt(20 / 3 + 1e-8)
    expect(out[0]).toBeCloseTo(-1 / sd, 10)
    expect(out[1]).toBeCloseTo(1 / sd, 10)
    expect(out[2]).toBeCloseTo(-3 / sd, 10)
    expect(out[3]).toBeCloseTo(3 / sd, 10)
    expect(batchRewards(scores, [false, false, true, false], { clip: 1 })).toEqual([out[0], out[1], -1, 1])
    expect(batchRewards(scores, [false, false, true, false], { whiten: false })).toEqual([1, 3, -1, 5])
  })

  it('subtracts missing_eos_penalty from the score of a response cut at the token budget, before whitening', () => {
    const scores = [{ helpful: 1 }, { helpful: 3 }, { helpful: 2 }]
    const finished = [true, false, true]
    expect(batchRewards(scores, [false, false, false], { whiten: false, missingEosPenalty: 1.5, finished })).toEqual([1, 1.5, 2])
    // combined [1, 1.5, 2]: mean 1.5, unbiased var 0.25.
    const out = batchRewards(scores, [false, false, false], { missingEosPenalty: 1.5, finished })
    expect(out[0]).toBeCloseTo(-0.5 / Math.sqrt(0.25 + 1e-8), 10)
    expect(out[1]).toBeCloseTo(0, 10)
    expect(batchRewards(scores, [false, false, false], { whiten: false, missingEosPenalty: 0, finished })).toEqual([1, 3, 2])
    expect(() => batchRewards(scores, [false, false, false], { missingEosPenalty: 1 })).toThrow(/finished flag/)
  })

  it('sigmoid is stable for large inputs', () => {
    expect(sigmoid(0)).toBe(0.5)
    expect(sigmoid(-1000)).toBe(0)
    expect(sigmoid(1000)).toBe(1)
  })
})

describe('masked statistics', () => {
  const values = [[1, 2, 100], [3, 100, 100]]
  const mask = [[1, 1, 0], [1, 0, 0]]
  it('mean and unbiased variance over the masked positions only', () => {
    expect(maskedMean(values, mask)).toBe(2) // (1 + 2 + 3) / 3
    expect(maskedVar(values, mask)).toBe(1) // (1 + 0 + 1) / 2
    expect(maskedVar(values, mask, false)).toBeCloseTo(2 / 3, 12)
  })
  it('whitens with and without shifting the mean; masked-out positions become 0', () => {
    const s = 1 / Math.sqrt(1 + 1e-8)
    const w = maskedWhiten(values, mask)
    expect(w[0][0]).toBeCloseTo(-s, 12)
    expect(w[0][1]).toBe(0)
    expect(w[1][0]).toBeCloseTo(s, 12)
    expect(w[0][2]).toBe(0)
    const kept = maskedWhiten(values, mask, { shiftMean: false })
    expect(kept[0][0]).toBeCloseTo(2 - s, 12)
    expect(kept[1][1]).toBe(0)
  })
  it('a batch of one is only centred', () => {
    expect(whiten([7])).toEqual([0])
  })
})

describe('KL estimators and per-token rewards', () => {
  it('k1, k2, k3 of one token', () => {
    // log pi = -1, log pi_ref = -2: log r = log(pi_ref / pi) = -1.
    expect(klEstimate(-1, -2, 'k1')).toBe(1)
    expect(klEstimate(-1, -2, 'k2')).toBe(0.5)
    expect(klEstimate(-1, -2, 'k3')).toBeCloseTo(Math.exp(-1) - 1 + 1, 12) // (e^-1 - 1) - (-1) = 0.3679
    expect(klEstimate(-2, -1, 'k1')).toBe(-1) // k1 can be negative
    expect(klEstimate(-2, -1, 'k3')).toBeCloseTo(Math.E - 2, 12) // (e - 1) - 1
  })

  it('-beta * kl on every response token, plus the score at the last one', () => {
    const mask = [[0, 1, 1, 0], [0, 0, 1, 1]]
    const logp = [[9, -1, -1, 9], [9, 9, -0.5, -2]]
    const ref = [[9, -2, -1.5, 9], [9, 9, -0.5, -1]]
    const { rewards, kl, nonScore } = tokenRewards([10, -3], logp, ref, mask, 0.1)
    expect(kl).toEqual([[0, 1, 0.5, 0], [0, 0, 0, -1]])
    expect(rewards[0][0]).toBe(0)
    expect(rewards[0][1]).toBeCloseTo(-0.1, 12)
    expect(rewards[0][2]).toBeCloseTo(-0.05 + 10, 12)
    expect(rewards[0][3]).toBe(0)
    expect(rewards[1][2]).toBeCloseTo(0, 12)
    expect(rewards[1][3]).toBeCloseTo(0.1 - 3, 12)
    expect(nonScore[0]).toBeCloseTo(-0.15, 12)
    expect(nonScore[1]).toBeCloseTo(0.1, 12)
  })
})

describe('GAE over masked rows', () => {
  it('gamma 1, lambda 0.95 by hand, with the episode ending at the last response token', () => {
    // Row: prompt, 3 response tokens, padding. rewards r = [_, 0, 0, 1, _], values V = [_, 0.5, 0.2, 0.4, _].
    // t=3: delta = 1 + 0 - 0.4 = 0.6;            A3 = 0.6
    // t=2: delta = 0 + 0.4 - 0.2 = 0.2;          A2 = 0.2 + 0.95 * 0.6 = 0.77
    // t=1: delta = 0 + 0.2 - 0.5 = -0.3;         A1 = -0.3 + 0.95 * 0.77 = 0.4315
    const mask = [[0, 1, 1, 1, 0]]
    const { advantages, returns } = gae([[5, 0, 0, 1, 7]], [[9, 0.5, 0.2, 0.4, 9]], mask)
    expect(advantages[0][0]).toBe(0)
    expect(advantages[0][1]).toBeCloseTo(0.4315, 12)
    expect(advantages[0][2]).toBeCloseTo(0.77, 12)
    expect(advantages[0][3]).toBeCloseTo(0.6, 12)
    expect(advantages[0][4]).toBe(0)
    expect(returns[0][1]).toBeCloseTo(0.9315, 12)
    expect(returns[0][3]).toBeCloseTo(1.0, 12)
  })
  it('gamma and lambda are used', () => {
    // t=1: delta = 1 - 1 = 0 -> A1 = 0; t=0: delta = 0 + 0.5 * 1 - 0 = 0.5; A0 = 0.5 + 0.5 * 0.5 * 0 = 0.5
    const { advantages } = gae([[0, 1]], [[0, 1]], [[1, 1]], 0.5, 0.5)
    expect(advantages[0]).toEqual([0.5, 0])
  })
})

describe('PPO losses', () => {
  const mask = tf.tensor2d([[1, 1, 0]])
  it('clipped surrogate, clip fraction and approximate KL by hand', () => {
    // log ratios [ln 1.5, ln 0.5, 0 (masked)]; advantages [1, -2, 5]
    // token 0: -1 * 1.5 = -1.5 vs -1 * 1.2 = -1.2 -> max -1.2 (clipped wins: counted)
    // token 1: 2 * 0.5 = 1.0 vs 2 * 0.8 = 1.6 -> max 1.6 (clipped wins: counted)
    const newLogp = tf.tensor2d([[Math.log(1.5), Math.log(0.5), 3]])
    const oldLogp = tf.tensor2d([[0, 0, 3]])
    const adv = tf.tensor2d([[1, -2, 5]])
    const { loss, clipfrac, approxkl } = clippedPolicyLoss(newLogp, oldLogp, adv, mask, 0.2)
    expect(loss.dataSync()[0]).toBeCloseTo((-1.2 + 1.6) / 2, 6)
    expect(clipfrac.dataSync()[0]).toBeCloseTo(1, 6)
    expect(approxkl.dataSync()[0]).toBeCloseTo(0.5 * ((Math.log(1.5) ** 2 + Math.log(0.5) ** 2) / 2), 6)
    // Inside the clip range nothing is clipped: loss = -mean(A * ratio).
    const inside = clippedPolicyLoss(tf.tensor2d([[Math.log(1.1), 0, 0]]), tf.tensor2d([[0, 0, 0]]), adv, mask, 0.2)
    expect(inside.loss.dataSync()[0]).toBeCloseTo((-1.1 + 2) / 2, 6)
    expect(inside.clipfrac.dataSync()[0]).toBe(0)
  })

  it('clipped value loss and its clip fraction by hand', () => {
    // token 0: V = 1.0, old 0.5, R = 2: clipped V = 0.7; (1-2)^2 = 1 vs (0.7-2)^2 = 1.69 -> 1.69 (clipped)
    // token 1: V = 0.1, old 0.0, R = 0: unclipped 0.01, clipped same 0.01 -> 0.01 (not counted)
    const { loss, clipfrac } = clippedValueLoss(tf.tensor2d([[1.0, 0.1, 9]]), tf.tensor2d([[0.5, 0, 0]]), tf.tensor2d([[2, 0, 0]]), mask, 0.2)
    expect(loss.dataSync()[0]).toBeCloseTo(0.5 * ((1.69 + 0.01) / 2), 5)
    expect(clipfrac.dataSync()[0]).toBeCloseTo(0.5, 6)
  })

  it('entropy of the softmax of logits', () => {
    // uniform over 4: ln 4; one-hot-ish large gap: ~0
    const h = entropyFromLogits(tf.tensor2d([[0, 0, 0, 0], [100, 0, 0, 0]])).dataSync()
    expect(h[0]).toBeCloseTo(Math.log(4), 5)
    expect(h[1]).toBeCloseTo(0, 5)
    // p = [0.5, 0.25, 0.25]: H = 0.5 ln 2 + 2 * 0.25 ln 4 = 1.5 ln 2
    expect(entropyFromLogits(tf.tensor2d([[Math.log(2), 0, 0]])).dataSync()[0]).toBeCloseTo(1.5 * Math.log(2), 5)
  })
})
