// A leaderboard of checkpoints from every recorded pairwise comparison (winrate runs): a
// Bradley-Terry fit, P(i beats j) = p_i / (p_i + p_j), by Hunter's MM algorithm, with seeded
// bootstrap intervals (each comparison's prompts resampled). Pure functions; the CLI
// (core/cli/leaderboard.ts) and the app read the matches from the store (matchesFromRuns).

import { mulberry32 } from '../util/random'

/** One recorded comparison of model `a` against model `b`, counted from a's side. */
export interface Match {
  a: string
  b: string
  wins: number
  ties: number
  losses: number
}

export interface Standing {
  model: string
  /** Elo-like: 1000 + 400 log10(p); 1000 is as strong as the virtual average player. */
  rating: number
  lo: number
  hi: number
  /** Comparisons (prompts) the model took part in. */
  games: number
}

/**
 * Bradley-Terry strengths by the MM algorithm (Hunter 2004): p_i <- W_i / sum_j n_ij / (p_i + p_j),
 * a tie counting half a win for each side. Every model also plays `prior` games won and `prior`
 * lost against a virtual player of strength 1, which keeps an unbeaten (or never winning) model
 * finite and fixes the scale; with it, models that never met are still placed.
 */
export function bradleyTerry(matches: Match[], opts: { prior?: number; iterations?: number } = {}): Map<string, number> {
  const prior = opts.prior ?? 0.5
  const models = [...new Set(matches.flatMap((m) => [m.a, m.b]))].sort()
  const index = new Map(models.map((m, i) => [m, i]))
  const n = models.length
  const won = new Array<number>(n).fill(prior) // wins against everyone, the virtual player included
  const games = Array.from({ length: n }, () => new Array<number>(n).fill(0)) // games[i][j] = n_ij
  for (const m of matches) {
    const i = index.get(m.a)!
    const j = index.get(m.b)!
    if (i === j) throw new Error(`bradleyTerry: model ${m.a} is compared with itself`)
    const total = m.wins + m.ties + m.losses
    won[i] += m.wins + m.ties / 2
    won[j] += m.losses + m.ties / 2
    games[i][j] += total
    games[j][i] += total
  }
  let p = new Array<number>(n).fill(1)
  for (let iter = 0; iter < (opts.iterations ?? 10_000); iter++) {
    const next = p.map((pi, i) => {
      let denom = (2 * prior) / (pi + 1) // the virtual player's games
      for (let j = 0; j < n; j++) if (games[i][j] > 0) denom += games[i][j] / (pi + p[j])
      return won[i] / denom
    })
    const change = Math.max(...next.map((v, i) => Math.abs(Math.log(v) - Math.log(p[i]))))
    p = next
    if (change < 1e-12) break
  }
  return new Map(models.map((m, i) => [m, p[i]]))
}

/** Elo-like rating of a Bradley-Terry strength. */
export function ratingOf(strength: number): number {
  return 1000 + 400 * Math.log10(strength)
}

/** Each match with its prompts resampled: the counts drawn again from the match's own shares. */
function resampleMatch(m: Match, rand: () => number): Match {
  const total = m.wins + m.ties + m.losses
  const out: Match = { a: m.a, b: m.b, wins: 0, ties: 0, losses: 0 }
  for (let k = 0; k < total; k++) {
    const u = rand() * total
    if (u < m.wins) out.wins++
    else if (u < m.wins + m.ties) out.ties++
    else out.losses++
  }
  return out
}

/** The leaderboard: ratings with percentile bootstrap intervals (seeded), strongest first. */
export function leaderboard(matches: Match[], opts: { seed?: number; reps?: number; level?: number; prior?: number } = {}): Standing[] {
  const reps = opts.reps ?? 200
  const level = opts.level ?? 0.95
  const fit = bradleyTerry(matches, { prior: opts.prior })
  const rand = mulberry32(opts.seed ?? 0)
  const draws = new Map<string, number[]>([...fit.keys()].map((m) => [m, []]))
  for (let r = 0; r < reps; r++) {
    for (const [model, s] of bradleyTerry(matches.map((m) => resampleMatch(m, rand)), { prior: opts.prior })) draws.get(model)!.push(ratingOf(s))
  }
  const at = (values: number[], q: number) => values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))]
  return [...fit.entries()]
    .map(([model, strength]) => {
      const values = draws.get(model)!.sort((x, y) => x - y)
      const rating = ratingOf(strength)
      return {
        model,
        rating,
        lo: values.length ? at(values, (1 - level) / 2) : rating,
        hi: values.length ? at(values, 1 - (1 - level) / 2) : rating,
        games: matches.filter((m) => m.a === model || m.b === model).reduce((s, m) => s + m.wins + m.ties + m.losses, 0),
      }
    })
    .sort((x, y) => y.rating - x.rating || x.model.localeCompare(y.model))
}
