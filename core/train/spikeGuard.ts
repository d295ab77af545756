// The bad-batch guard (Llama 2: loss spikes come from bad batches; skip them and keep going).
//
// After each forward/backward pass the loop calls `check(loss, gradNorm)` before applying the
// update. A batch is skipped when its loss or gradient norm is not finite, or when its loss is
// far above the running statistics of the losses accepted so far:
//     loss > mean + zScore * std   AND   loss > ratio * mean
// Both conditions must hold: the z-score alone fires on tiny wobbles once the loss is very
// steady (std near 0), the ratio alone ignores how noisy the loss normally is.
// Skipped losses do not enter the statistics, so one spike cannot raise the bar for the next.
// After `maxConsecutive` skips in a row the guard says stop: the run is diverging, or the data
// really changed, and a person should look.

export interface SpikeGuardOptions {
  /** Accepted batches before spike detection starts (the early loss falls too fast to judge). */
  warmup?: number
  /** How many standard deviations above the running mean count as a spike. */
  zScore?: number
  /** The loss must also exceed this multiple of the running mean. */
  ratio?: number
  /** Weight of the past in the running mean and variance (0.95 ~ the last 20 batches). */
  emaBeta?: number
  /** Skips in a row that stop the run. */
  maxConsecutive?: number
}

export interface SpikeGuardState {
  mean: number
  variance: number
  /** Accepted batches so far. */
  accepted: number
  consecutiveSkips: number
  totalSkips: number
}

export interface SpikeCheck {
  /** True: do not apply this update. */
  skip: boolean
  /** Why it was skipped, e.g. "loss spike: 9.1 > mean 3.2 + 5 x std 0.1". */
  reason?: string
  /** True when this was the maxConsecutive-th bad batch in a row: stop the run. */
  stop?: boolean
  /** "stopping: 10 bad batches in a row (last: ...)" */
  stopReason?: string
}

const DEFAULTS: Required<SpikeGuardOptions> = { warmup: 20, zScore: 5, ratio: 1.3, emaBeta: 0.95, maxConsecutive: 10 }

export class SpikeGuard {
  readonly options: Required<SpikeGuardOptions>
  private state: SpikeGuardState = { mean: 0, variance: 0, accepted: 0, consecutiveSkips: 0, totalSkips: 0 }

  constructor(options: SpikeGuardOptions = {}, state?: SpikeGuardState) {
    this.options = { ...DEFAULTS, ...stripUndefined(options) }
    checkOptions(this.options)
    if (state) this.setState(state)
  }

  /** Judges one batch. Call once per batch, before applying its update. */
  check(loss: number, gradNorm?: number): SpikeCheck {
    const reason = this.badBatchReason(loss, gradNorm)
    if (reason === null) {
      this.accept(loss)
      return { skip: false }
    }
    this.state.consecutiveSkips += 1
    this.state.totalSkips += 1
    const n = this.state.consecutiveSkips
    if (n >= this.options.maxConsecutive) {
      return { skip: true, reason, stop: true, stopReason: `stopping: ${n} bad batches in a row (last: ${reason})` }
    }
    return { skip: true, reason }
  }

  /** A copy of the state, plain JSON, for trainer_state.json. */
  getState(): SpikeGuardState {
    return { ...this.state }
  }

  setState(state: SpikeGuardState): void {
    for (const key of ['mean', 'variance', 'accepted', 'consecutiveSkips', 'totalSkips'] as const) {
      if (typeof state?.[key] !== 'number' || !Number.isFinite(state[key])) {
        throw new Error(`spike guard state: "${key}" must be a finite number, got ${JSON.stringify(state?.[key])}`)
      }
    }
    this.state = { ...state }
  }

  /** Running mean and standard deviation of accepted losses (for logging). */
  get stats(): { mean: number; std: number; accepted: number; totalSkips: number } {
    return { mean: this.state.mean, std: Math.sqrt(this.state.variance), accepted: this.state.accepted, totalSkips: this.state.totalSkips }
  }

  private badBatchReason(loss: number, gradNorm?: number): string | null {
    if (!Number.isFinite(loss)) return `non-finite loss (${loss})`
    if (gradNorm !== undefined && !Number.isFinite(gradNorm)) return `non-finite gradient norm (${gradNorm})`
    if (this.state.accepted < this.options.warmup) return null
    const { mean } = this.state
    const std = Math.sqrt(this.state.variance)
    const { zScore, ratio } = this.options
    // (ratio - 1) * |mean| rather than ratio * mean keeps the rule sensible for losses below 0.
    if (loss > mean + zScore * std && loss - mean > (ratio - 1) * Math.abs(mean)) {
      return `loss spike: ${fmt(loss)} > mean ${fmt(mean)} + ${zScore} x std ${fmt(std)} and > ${ratio} x mean`
    }
    return null
  }

  /** Exponentially weighted mean and variance (West's incremental form). */
  private accept(loss: number): void {
    const s = this.state
    s.consecutiveSkips = 0
    if (s.accepted === 0) {
      s.mean = loss
      s.variance = 0
    } else {
      const alpha = 1 - this.options.emaBeta
      const delta = loss - s.mean
      s.mean += alpha * delta
      s.variance = (1 - alpha) * (s.variance + alpha * delta * delta)
    }
    s.accepted += 1
  }
}

function checkOptions(o: Required<SpikeGuardOptions>): void {
  if (!(Number.isInteger(o.warmup) && o.warmup >= 1)) throw new Error(`spike guard: warmup must be an integer >= 1, got ${o.warmup}`)
  if (!(o.zScore > 0)) throw new Error(`spike guard: zScore must be > 0, got ${o.zScore}`)
  if (!(o.ratio >= 1)) throw new Error(`spike guard: ratio must be >= 1, got ${o.ratio}`)
  if (!(o.emaBeta > 0 && o.emaBeta < 1)) throw new Error(`spike guard: emaBeta must be between 0 and 1, got ${o.emaBeta}`)
  if (!(Number.isInteger(o.maxConsecutive) && o.maxConsecutive >= 1)) {
    throw new Error(`spike guard: maxConsecutive must be an integer >= 1, got ${o.maxConsecutive}`)
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

function fmt(x: number): string {
  return Number(x.toPrecision(4)).toString()
}
