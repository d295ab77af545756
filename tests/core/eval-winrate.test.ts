// Win rate figures (issue 14): per-prompt outcomes, bootstrap intervals, the length-controlled
// win rate (a logistic fit checked on a case solved by hand), swap flips, people's seven-point
// verdicts; the Bradley-Terry leaderboard on a hand-made tournament; diversity (distinct-n,
// Self-BLEU) against hand-computed values.
import { describe, it, expect } from 'vitest'
import {
  bootstrapInterval,
  fitLogistic,
  humanOutcome,
  lengthControlledWinRate,
  outcomeOf,
  swapFlipRate,
  tally,
  winRateFigures,
  type Outcome,
} from '../../core/eval/winrate'
import { bradleyTerry, leaderboard, ratingOf } from '../../core/eval/leaderboard'
import { distinctN, selfBleu, sentenceBleu, words } from '../../core/eval/diversity'

describe('win / tie / loss', () => {
  it('calls a tie inside the margin and counts from A\'s side', () => {
    expect(outcomeOf(1.0, 0.5, 0.1)).toBe(1)
    expect(outcomeOf(0.5, 1.0, 0.1)).toBe(0)
    expect(outcomeOf(1.0, 0.95, 0.1)).toBe(0.5)
    expect(tally([1, 1, 0.5, 0])).toEqual({ wins: 2, ties: 1, losses: 1, n: 4, winRate: 0.625 })
  })

  it('counts a flip whenever the swapped order gives another verdict', () => {
    expect(swapFlipRate([1, 0.5, 0, 1], [1, 1, 0, 0])).toBe(0.5)
    expect(() => swapFlipRate([1], [])).toThrow(/1 verdicts in one order but 0/)
  })

  it('reads a seven-point verdict for A by the side A was shown on', () => {
    expect(humanOutcome(3, true)).toBe(1)
    expect(humanOutcome(3, false)).toBe(0)
    expect(humanOutcome(-1, false)).toBe(1)
    expect(humanOutcome(0, true)).toBe(0.5)
  })
})

describe('length-controlled win rate', () => {
  // Four prompts where A is shorter (x = -1): A wins 1 of 4; four where A is longer (x = +1): 2 of 4.
  // The saturated fit has logit(1/4) = a - b and logit(2/4) = a + b, so a = -ln(3)/2, b = ln(3)/2.
  const x = [-1, -1, -1, -1, 1, 1, 1, 1]
  const y: Outcome[] = [1, 0, 0, 0, 1, 1, 0, 0]

  it('fits the logistic regression solved by hand', () => {
    const fit = fitLogistic(x, y, 0)
    expect(fit.intercept).toBeCloseTo(-Math.log(3) / 2, 8)
    expect(fit.slope).toBeCloseTo(Math.log(3) / 2, 8)
  })

  it('reports the win rate at zero length difference, not the raw one', () => {
    expect(tally(y).winRate).toBe(0.375)
    // sigmoid(-ln(3)/2) = 1 / (1 + sqrt 3); lengths in tokens (+-7) scale away.
    expect(lengthControlledWinRate(y, x.map((d) => 7 * d))).toBeCloseTo(1 / (1 + Math.sqrt(3)), 3)
  })

  it('removes a length preference: the longer answer mostly wins, whichever model wrote it', () => {
    // Mirror-symmetric (d -> -d, win -> loss): the fit's intercept is 0 by symmetry.
    const diffs = [-3, -2, -1, 1, 2, 3]
    const outcomes: Outcome[] = [0, 0, 1, 0, 1, 1]
    expect(lengthControlledWinRate(outcomes, diffs)).toBeCloseTo(0.5, 6)
    // A is always longer and wins more the longer it is: 2 of 3 at +1 word, 8 of 9 at +3 words. The
    // saturated fit is logit(2/3) = b, logit(8/9) = 3b: b = ln 2 and intercept 0, so at equal length 0.5.
    const more = [1, 1, 1, ...Array<number>(9).fill(3)]
    const won: Outcome[] = [1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    expect(tally(won).winRate).toBeCloseTo(10 / 12, 12)
    expect(lengthControlledWinRate(won, more)).toBeCloseTo(0.5, 2)
  })

  it('stays finite when A wins everything', () => {
    const lc = lengthControlledWinRate([1, 1, 1, 1], [1, 2, 3, 4])
    expect(lc).toBeGreaterThan(0.9)
    expect(lc).toBeLessThanOrEqual(1)
  })
})

describe('bootstrap intervals', () => {
  it('is reproducible by seed and brackets the estimate', () => {
    const outcomes: Outcome[] = [1, 1, 0, 0.5, 1, 0, 1, 1, 0.5, 0, 1, 1]
    const share = (rows: Outcome[]) => rows.filter((o) => o === 1).length / rows.length
    const a = bootstrapInterval(outcomes, share, { seed: 3, reps: 500 })
    expect(bootstrapInterval(outcomes, share, { seed: 3, reps: 500 })).toEqual(a)
    expect(a.value).toBeCloseTo(7 / 12, 12)
    expect(a.lo).toBeLessThan(a.value)
    expect(a.hi).toBeGreaterThan(a.value)
  })

  it('gives every figure: all wins have the interval [1, 1]', () => {
    const f = winRateFigures([1, 1, 1], [0, 1, 2], { seed: 0, reps: 50 })
    expect(f.win).toEqual({ value: 1, lo: 1, hi: 1 })
    expect(f.loss).toEqual({ value: 0, lo: 0, hi: 0 })
    expect(f.counts).toMatchObject({ wins: 3, n: 3 })
  })
})

describe('Bradley-Terry leaderboard', () => {
  it('recovers the odds of two players: 3 wins to 1 is strength ratio 3', () => {
    const p = bradleyTerry([{ a: 'x', b: 'y', wins: 3, ties: 0, losses: 1 }], { prior: 0 })
    expect(p.get('x')! / p.get('y')!).toBeCloseTo(3, 8)
    expect(ratingOf(p.get('x')!) - ratingOf(p.get('y')!)).toBeCloseTo(400 * Math.log10(3), 6)
  })

  it('fits a hand-made tournament: the MM fixed point satisfies the score equations', () => {
    // A beats B 6-2 (2 ties), B beats C 5-3, A beats C 7-1; a tie is half a win each.
    const matches = [
      { a: 'A', b: 'B', wins: 6, ties: 2, losses: 2 },
      { a: 'C', b: 'B', wins: 3, ties: 0, losses: 5 },
      { a: 'A', b: 'C', wins: 7, ties: 0, losses: 1 },
    ]
    const p = bradleyTerry(matches, { prior: 0 })
    const expectedWins = (i: string) =>
      matches.reduce((s, m) => {
        const total = m.wins + m.ties + m.losses
        if (m.a === i) return s + (total * p.get(i)!) / (p.get(i)! + p.get(m.b)!)
        if (m.b === i) return s + (total * p.get(i)!) / (p.get(i)! + p.get(m.a)!)
        return s
      }, 0)
    expect(expectedWins('A')).toBeCloseTo(6 + 1 + 7, 6)
    expect(expectedWins('B')).toBeCloseTo(2 + 1 + 5, 6)
    expect(expectedWins('C')).toBeCloseTo(3 + 1, 6)

    const board = leaderboard(matches, { seed: 1, reps: 100 })
    expect(board.map((s) => s.model)).toEqual(['A', 'B', 'C'])
    expect(board.map((s) => s.games)).toEqual([18, 18, 16])
    for (const s of board) {
      expect(s.lo).toBeLessThanOrEqual(s.rating)
      expect(s.hi).toBeGreaterThanOrEqual(s.rating)
    }
    expect(leaderboard(matches, { seed: 1, reps: 100 })).toEqual(board)
  })

  it('keeps an unbeaten model finite with the prior', () => {
    const p = bradleyTerry([{ a: 'x', b: 'y', wins: 5, ties: 0, losses: 0 }])
    expect(Number.isFinite(p.get('x')!)).toBe(true)
    expect(p.get('x')!).toBeGreaterThan(p.get('y')!)
  })
})

describe('diversity', () => {
  it('distinct-n counts unique n-grams over all answers', () => {
    expect(words('The  cat\nsat')).toEqual(['the', 'cat', 'sat'])
    expect(distinctN(['a b a', 'a c'], 1)).toBeCloseTo(3 / 5, 12)
    expect(distinctN(['a b a', 'a c'], 2)).toBe(1) // 'a b', 'b a', 'a c'
    expect(distinctN(['a b', 'a b'], 2)).toBe(0.5)
    expect(distinctN(['a'], 2)).toBeNaN()
  })

  it('computes sentence BLEU as by hand', () => {
    // p1 = 3/4, p2 = 2/3 ('sat on' unmatched), equal lengths: sqrt(1/2).
    expect(sentenceBleu(words('the cat sat on'), [words('the cat sat down')], { maxN: 2 })).toBeCloseTo(Math.SQRT1_2, 12)
    // All n-grams match but the hypothesis is half as long: brevity penalty exp(1 - 4/2).
    expect(sentenceBleu(words('the cat'), [words('the cat sat down')], { maxN: 2 })).toBeCloseTo(Math.exp(-1), 12)
    // No bigram matches: smoothed with 0.1 matches; p1 = 2/2, p2 = 0.1/1.
    expect(sentenceBleu(words('a b'), [words('b a')], { maxN: 2 })).toBeCloseTo(Math.sqrt(0.1), 12)
    // Two words with maxN 4: orders 1 and 2 only (the same value), not zero.
    expect(sentenceBleu(words('a b'), [words('b a')])).toBeCloseTo(Math.sqrt(0.1), 12)
  })

  it('Self-BLEU is 1 for identical answers and lower for different ones', () => {
    expect(selfBleu(['the cat sat down', 'the cat sat down'])).toBeCloseTo(1, 12)
    const s = selfBleu(['the cat sat on', 'the cat sat down'], { maxN: 2 })
    expect(s).toBeCloseTo(Math.SQRT1_2, 12)
    expect(selfBleu(['one'])).toBeNaN()
  })
})
