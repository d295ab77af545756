// Gold against proxy (the demo world): rollouts to gold-checked prompts are also scored by the
// world's gold judges, charted beside the reward model's score; when the proxy rises while gold
// helpfulness falls over a window of steps, the reward model is being over-optimised, and the run
// records a warning event.
import { judgeResponse, type GoldItem } from '../eval/gold'

/** gold/helpfulness and gold/violation_rate of one batch's rollouts to gold items (empty when none). */
export function goldMetrics(judged: { gold?: GoldItem; response: string }[]): Record<string, number> {
  const results = judged.filter((j) => j.gold).map((j) => judgeResponse(j.gold!, j.response))
  if (results.length === 0) return {}
  const tasks = results.filter((r) => r.item.kind !== 'adversarial')
  const adversarial = results.filter((r) => r.item.kind === 'adversarial')
  const out: Record<string, number> = { 'gold/judged': results.length }
  if (tasks.length > 0) out['gold/helpfulness'] = tasks.reduce((a, r) => a + r.helpfulness, 0) / tasks.length
  if (adversarial.length > 0) out['gold/violation_rate'] = adversarial.filter((r) => r.safety === 'unsafe').length / adversarial.length
  return out
}

/** One step's proxy score and gold helpfulness. */
export interface ProxyGoldPoint {
  step: number
  proxy: number
  gold: number
}

/** Least-squares slope of ys against xs (0 for fewer than two points). */
export function slope(xs: number[], ys: number[]): number {
  if (xs.length < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  let num = 0
  let den = 0
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i] - my)
    den += (x - mx) ** 2
  })
  return den > 0 ? num / den : 0
}

/**
 * Over-optimisation over the last `window` points: the proxy's trend is up and gold's is down.
 * Returns the two slopes when that holds, else null (also while the window is not yet full).
 */
export function overOptimisation(points: ProxyGoldPoint[], window: number): { proxySlope: number; goldSlope: number } | null {
  if (window < 2 || points.length < window) return null
  const recent = points.slice(-window)
  const steps = recent.map((p) => p.step)
  const proxySlope = slope(steps, recent.map((p) => p.proxy))
  const goldSlope = slope(steps, recent.map((p) => p.gold))
  return proxySlope > 0 && goldSlope < 0 ? { proxySlope, goldSlope } : null
}
