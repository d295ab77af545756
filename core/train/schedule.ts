// Learning-rate schedules. Llama 2 uses a linear warmup then a cosine decay to 10% of the peak;
// PPO uses a constant rate. `lrAt` is a pure function of the step, so resuming a run only needs
// the step number to land at the same point of the schedule.

export type ScheduleKind = 'cosine' | 'linear' | 'constant'

export interface ScheduleOptions {
  /** The learning rate reached at the end of warmup. */
  peak: number
  /** Updates spent ramping linearly from peak/warmupSteps up to peak. 0 = no warmup. */
  warmupSteps: number
  /** Total updates in the run; the decay ends here and the rate stays at minRatio * peak after. */
  totalSteps: number
  /** Final rate as a fraction of the peak (Llama 2: 0.1). */
  minRatio?: number
  kind?: ScheduleKind
}

/**
 * The learning rate for update number `step` (0-based: step 0 is the first update).
 * Warmup: peak * (step + 1) / warmupSteps, so the first update is not wasted at lr 0 and the last
 * warmup update uses the peak. Then `kind` decays from peak to minRatio * peak over the
 * remaining totalSteps - warmupSteps updates: a half cosine, a straight line, or not at all.
 */
export function lrAt(step: number, options: ScheduleOptions): number {
  checkSchedule(options)
  if (!Number.isInteger(step) || step < 0) throw new Error(`lrAt: step must be an integer >= 0, got ${step}`)
  const { peak, warmupSteps, totalSteps } = options
  const minRatio = options.minRatio ?? 0.1
  const kind = options.kind ?? 'cosine'
  if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps
  if (kind === 'constant') return peak

  const floor = peak * minRatio
  const decaySteps = totalSteps - warmupSteps
  // progress 0 at the first post-warmup update, 1 at the last update of the run.
  const progress = decaySteps <= 1 ? 1 : Math.min(1, (step - warmupSteps) / (decaySteps - 1))
  if (kind === 'linear') return peak - (peak - floor) * progress
  return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress))
}

/** Throws a clear error naming the bad option. */
export function checkSchedule(options: ScheduleOptions): void {
  const { peak, warmupSteps, totalSteps } = options
  const minRatio = options.minRatio ?? 0.1
  const kind = options.kind ?? 'cosine'
  if (!(Number.isFinite(peak) && peak >= 0)) throw new Error(`schedule: peak learning rate must be a number >= 0, got ${peak}`)
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) throw new Error(`schedule: warmupSteps must be an integer >= 0, got ${warmupSteps}`)
  if (!(Number.isInteger(totalSteps) && totalSteps >= 1)) throw new Error(`schedule: totalSteps must be an integer >= 1, got ${totalSteps}`)
  if (warmupSteps > totalSteps) throw new Error(`schedule: warmupSteps (${warmupSteps}) is larger than totalSteps (${totalSteps})`)
  if (!(Number.isFinite(minRatio) && minRatio >= 0 && minRatio <= 1)) throw new Error(`schedule: minRatio must be between 0 and 1, got ${minRatio}`)
  if (!['cosine', 'linear', 'constant'].includes(kind)) throw new Error(`schedule: kind must be cosine, linear or constant, got "${kind}"`)
}
