// A long live run must not make the run page do work proportional to the points so far for every
// incoming point (the first e2e pretraining run at 3000 steps, logging every step, left the page
// unresponsive: each run:metrics event re-smoothed and redrew every chart over its whole history).
import { describe, it, expect, vi, afterEach, beforeEach } from 'vitest'
import { computed } from 'vue'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import { LiveSeries, REDRAW_INTERVAL_MS } from '../../renderer/src/lib/liveSeries'
import { mountWithFake, settle } from './helpers'

// Counts the values the run page smooths: the per-redraw work over each chart's whole history.
const work = vi.hoisted(() => ({ smoothed: 0 }))
vi.mock('../../renderer/src/lib/smoothing', async (original) => {
  const real = await original<typeof import('../../renderer/src/lib/smoothing')>()
  return {
    emaSmooth: (values: (number | null)[], weight: number) => {
      work.smoothed += values.length
      return real.emaSmooth(values, weight)
    },
  }
})

// Only the timers: the test decides when a redraw is due (flushPromises runs on setImmediate).
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
})
afterEach(() => {
  vi.useRealTimers()
  document.body.innerHTML = ''
})

const metricsEvent = (step: number) => ({ id: 'run-b', step, values: { 'train/loss': 3 - step / 1000, 'train/grad_norm': 1, 'train/lr': 0.001 }, time: Date.now() })

describe('LiveSeries', () => {
  it('appends in place and tells its readers once per redraw interval, however many points arrive', () => {
    const live = new LiveSeries()
    live.replaceAll([{ key: 'train/loss', steps: [1], values: [3], times: [0] }])
    const steps = live.get('train/loss')!.steps
    let recomputed = 0
    const lengths = computed(() => {
      recomputed += 1
      return live.values().map((s) => s.steps.length)
    })
    expect(lengths.value).toEqual([1])
    for (let step = 2; step <= 1000; step++) live.append({ ...metricsEvent(step), values: { 'train/loss': 1 } })
    expect(lengths.value).toEqual([1]) // not yet redrawn
    vi.advanceTimersByTime(REDRAW_INTERVAL_MS)
    expect(lengths.value).toEqual([1000])
    expect(recomputed).toBe(2)
    expect(live.get('train/loss')!.steps).toBe(steps) // the same array, grown, never copied
  })
})

describe('Run detail: a long live run', () => {
  it('smooths each chart once per redraw, not once per incoming point', async () => {
    const { wrapper, world } = await mountWithFake(RunDetailView, { id: 'run-b' })
    const events = 1500
    work.smoothed = 0
    // SSE hands the page one message per task; Vue renders after each.
    for (let step = 6; step < 6 + events; step++) {
      world.hub.emit('run:metrics', metricsEvent(step))
      world.hub.emit('run:update', { id: 'run-b', progress: { step, totalSteps: 3000 } })
      await settle()
    }
    vi.advanceTimersByTime(REDRAW_INTERVAL_MS)
    await settle()
    const loss = 5 + events
    expect(wrapper.find('[data-metric="train/loss"]').attributes('data-points')).toBe(String(loss))
    expect(wrapper.find('[data-metric="train/grad_norm"]').attributes('data-points')).toBe(String(events))
    expect(wrapper.find('[data-test="progress"]').text()).toContain(`step ${5 + events} / 3000`)
    // Two smoothed charts (the learning rate is drawn raw), smoothed a few times each. Redrawing
    // per event smooths 1500 * 1500 / 2 values per chart, over two million in all.
    expect(work.smoothed).toBeLessThan(10 * (loss + events))
  })
})
