// A run's metric series on the run page while points stream in. A live run logs every step (a
// tiny model: a hundred steps a second, each a run:metrics event of several keys); redrawing every
// chart for each event costs work proportional to the points so far, so a long run's page did
// O(n) work per point, O(n^2) in all, and stopped answering. Here a point is one push onto a plain
// array (never a deep reactive proxy: Vue would wrap every element read), and the charts are told
// to redraw at most once per `intervalMs`, whatever the event rate.

import { shallowRef } from 'vue'
import type { MetricSeries, RunMetricsEvent } from '../../../electron/shared/api'

/** How often at most the charts of a live run redraw. */
export const REDRAW_INTERVAL_MS = 250

export class LiveSeries {
  private readonly byKey = new Map<string, MetricSeries>()
  /** Bumped once per redraw; every read below depends on it, so computed charts follow it. */
  private readonly version = shallowRef(0)
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(private readonly intervalMs = REDRAW_INTERVAL_MS) {}

  /** Replaces every series (a load from the store) and redraws now. */
  replaceAll(series: MetricSeries[]): void {
    this.byKey.clear()
    for (const s of series) this.byKey.set(s.key, s)
    this.publishNow()
  }

  /** Appends one logged step; returns the longest series' length (for the caller's reload limit). */
  append(update: RunMetricsEvent): number {
    let longest = 0
    for (const [key, value] of Object.entries(update.values)) {
      let s = this.byKey.get(key)
      if (!s) {
        s = { key, steps: [], values: [], times: [] }
        this.byKey.set(key, s)
      }
      s.steps.push(update.step)
      s.values.push(value)
      s.times.push(update.time)
      longest = Math.max(longest, s.steps.length)
    }
    this.publishSoon()
    return longest
  }

  get(key: string): MetricSeries | undefined {
    this.track()
    return this.byKey.get(key)
  }

  has(key: string): boolean {
    this.track()
    return this.byKey.has(key)
  }

  keys(): string[] {
    this.track()
    return [...this.byKey.keys()]
  }

  values(): MetricSeries[] {
    this.track()
    return [...this.byKey.values()]
  }

  /** Stops a pending redraw (the page is closing). */
  dispose(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private track(): void {
    void this.version.value
  }

  private publishNow(): void {
    this.dispose()
    this.version.value += 1
  }

  private publishSoon(): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.version.value += 1
    }, this.intervalMs)
  }
}
