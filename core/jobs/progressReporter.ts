// How a job worker reports a stage's progress: as protocol events to the process that launched
// it (a few a second, for its live progress bar) and as the run's progress row in the store (about
// once a second, so every viewer, whoever launched the run, sees the same step and ETA).
// Stages may report every step; both outlets are throttled here, and the last report of a run
// (its final step, or whatever it reached when it stopped) is always written.
import type { Progress } from '../train/stages/types'

export interface ProgressOutlets {
  /** Sends a progress event to the launching process. */
  emit(p: Progress): void
  /** Writes the run's progress row. */
  record(p: Progress): void
  /** Tells the launching process that recording failed (the run goes on without it). */
  warn(message: string): void
  /** Milliseconds; Date.now by default (tests pass a clock). */
  now?: () => number
}

export const EMIT_EVERY_MS = 250
export const RECORD_EVERY_MS = 1000

export class ProgressReporter {
  private lastEmit = -Infinity
  private lastRecord = -Infinity
  /** The final step is sent and written at once, but only the first time it is reported. */
  private finalSent = false
  private finalRecorded = false
  private unrecorded: Progress | null = null
  private recordFailed = false
  /** The latest step reported (system metrics are logged against it). */
  step = 0

  constructor(private readonly outlets: ProgressOutlets) {}

  /** A stage's progress report. */
  report(p: Progress): void {
    const now = this.now()
    const done = p.totalSteps > 0 && p.step >= p.totalSteps
    this.step = p.step
    if ((done && !this.finalSent) || now - this.lastEmit >= EMIT_EVERY_MS) {
      this.finalSent = done
      this.lastEmit = now
      this.outlets.emit(p)
    }
    this.unrecorded = p
    if ((done && !this.finalRecorded) || now - this.lastRecord >= RECORD_EVERY_MS) {
      this.finalRecorded = done
      this.flush()
    }
  }

  /** Writes the latest report if it is not in the store yet (at the end of a run, stopped or not). */
  flush(): void {
    const p = this.unrecorded
    if (!p) return
    this.unrecorded = null
    this.lastRecord = this.now()
    try {
      this.outlets.record(p)
    } catch (err) {
      // Progress is a view of the run, not its result: a busy or full store must not stop training.
      // Said once, so the log is not flooded every second.
      if (!this.recordFailed) this.outlets.warn(`could not record progress in the store: ${(err as Error).message}`)
      this.recordFailed = true
    }
  }

  private now(): number {
    return (this.outlets.now ?? Date.now)()
  }
}
