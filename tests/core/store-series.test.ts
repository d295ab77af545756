import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Store } from '../../core/tracking/store'
import { SqliteTracker } from '../../core/tracking/tracker'
import { downsampleMinMax, stepBuckets } from '../../core/tracking/downsample'

let home: string
let store: Store

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-series-'))
  store = Store.open(home)
})
afterEach(() => {
  store.close()
  fs.rmSync(home, { recursive: true, force: true })
})

/** Writes `count` points of key with value f(step), straight through the batch API. */
function writeSeries(runId: string, key: string, count: number, f: (step: number) => number, wallTime = (s: number) => 1_000_000 + s) {
  for (let start = 0; start < count; start += 5000) {
    const metrics = []
    for (let step = start; step < Math.min(count, start + 5000); step++) metrics.push({ step, key, value: f(step), wallTime: wallTime(step) })
    store.recordBatch(runId, { metrics })
  }
}

describe('pure downsampling', () => {
  it('stepBuckets covers the range exactly once', () => {
    const b = stepBuckets(10, 109, 7)
    expect(b[0][0]).toBe(10)
    expect(b[b.length - 1][1]).toBe(110)
    for (let i = 1; i < b.length; i++) expect(b[i][0]).toBe(b[i - 1][1])
    expect(stepBuckets(0, 2, 10)).toEqual([[0, 1], [1, 2], [2, 3]])
  })

  it('keeps a single spike, the first and last point, and stays within maxPoints', () => {
    const n = 100_000
    const xs = new Float64Array(n).map((_, i) => i)
    const ys = new Float64Array(n).fill(1)
    ys[31_337] = 50
    ys[70_001] = -Infinity
    ys[90_000] = NaN
    const kept = downsampleMinMax(xs, ys, 200)
    expect(kept.length).toBeLessThanOrEqual(200)
    expect(kept).toContain(31_337)
    expect(kept).toContain(70_001)
    expect(kept).toContain(90_000)
    expect(kept[0]).toBe(0)
    expect(kept[kept.length - 1]).toBe(n - 1)
    expect([...kept].sort((a, b) => a - b)).toEqual(kept)
    expect(downsampleMinMax([1, 2, 3], [1, 2, 3], 10)).toEqual([0, 1, 2])
  })
})

describe('metricSeries', () => {
  it('returns short series whole, NaN and infinities included', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    const t = new SqliteTracker(store, run.id)
    const values = [1.5, NaN, Infinity, -Infinity, 0, -0.25]
    values.forEach((v, step) => t.logMetrics(step, { 'train/loss': v }))
    t.close()
    const [s] = store.metricSeries({ runIds: [run.id], keys: ['train/loss'] })
    expect(s.downsampled).toBe(false)
    expect(s.totalPoints).toBe(6)
    expect(s.steps).toEqual([0, 1, 2, 3, 4, 5])
    expect(s.y).toEqual(values) // toEqual treats NaN as equal to NaN
    expect(Number.isNaN(s.y[1])).toBe(true)
    expect(s.y[2]).toBe(Infinity)
    expect(s.y[3]).toBe(-Infinity)
    // The raw rows show how: NaN is NULL with its flag, infinities are flagged too.
    const raw = store.db.prepare('SELECT value, value_kind FROM metrics WHERE run_id = ? ORDER BY step').all(run.id)
    expect(raw.slice(1, 4)).toEqual([{ value: null, value_kind: 1 }, { value: Infinity, value_kind: 2 }, { value: -Infinity, value_kind: 3 }])
    expect(store.metricHistory(run.id, 'train/loss').map((p) => p.value)).toEqual(values)
  })

  it('downsamples a long series to maxPoints and keeps a single spike and a lone NaN visible', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    const n = 50_000
    writeSeries(run.id, 'train/loss', n, (s) => (s === 12_345 ? 99 : s === 40_000 ? NaN : s === 44_444 ? -5 : 2 + Math.sin(s / 500)))
    const [s] = store.metricSeries({ runIds: [run.id], keys: ['train/loss'], maxPoints: 300 })
    expect(s.downsampled).toBe(true)
    expect(s.totalPoints).toBe(n)
    expect(s.x.length).toBeLessThanOrEqual(300)
    expect(s.x.length).toBeGreaterThan(250)
    expect(s.y[s.steps.indexOf(12_345)]).toBe(99)
    expect(Number.isNaN(s.y[s.steps.indexOf(40_000)])).toBe(true)
    expect(s.y[s.steps.indexOf(44_444)]).toBe(-5)
    expect(s.steps[0]).toBe(0)
    expect(s.steps[s.steps.length - 1]).toBe(n - 1)
    for (let i = 1; i < s.steps.length; i++) expect(s.steps[i]).toBeGreaterThan(s.steps[i - 1])
    // The envelope is kept: the sine's extremes survive.
    expect(Math.max(...s.y.filter((v) => v < 50))).toBeCloseTo(3, 3)
    expect(Math.min(...s.y.filter((v) => v > 0))).toBeCloseTo(1, 3)
  })

  it('returns a sparse series whole when its points fit, even over a long step range', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    // eval every 1000 steps, clustered: 60 points over 200,000 steps.
    const metrics = Array.from({ length: 60 }, (_, i) => ({ step: i < 30 ? i : 200_000 - i, key: 'eval/loss', value: i, wallTime: i }))
    store.recordBatch(run.id, { metrics })
    const [s] = store.metricSeries({ runIds: [run.id], keys: ['eval/loss'], maxPoints: 40 })
    expect(s.downsampled).toBe(true)
    expect(s.totalPoints).toBe(60)
    expect(s.x.length).toBeLessThanOrEqual(40)
    const [whole] = store.metricSeries({ runIds: [run.id], keys: ['eval/loss'], maxPoints: 100 })
    expect(whole.downsampled).toBe(false)
    expect(whole.steps).toHaveLength(60)
    expect(store.metricSeries({ runIds: [run.id], keys: ['missing'] })[0]).toMatchObject({ x: [], totalPoints: 0 })
  })

  it('aligns several runs by tokens seen and by wall time', () => {
    const a = store.createRun({ stage: 'pretrain', config: {} })
    const b = store.createRun({ stage: 'pretrain', config: {} })
    store.startRun(a.id, { pid: process.pid, hostname: os.hostname() })
    const startedAt = store.getRunRecord(a.id).startedAt!
    // Run a: 100 tokens per step, tokens logged every 2 steps (as-of lookup fills the gaps).
    const metrics = []
    for (let step = 1; step <= 10; step++) {
      metrics.push({ step, key: 'train/loss', value: 10 - step, wallTime: startedAt + step * 500 })
      if (step % 2 === 0) metrics.push({ step, key: 'train/tokens_seen', value: step * 100, wallTime: startedAt + step * 500 })
    }
    store.recordBatch(a.id, { metrics })
    store.recordBatch(b.id, { metrics: [{ step: 1, key: 'train/loss', value: 5, wallTime: 0 }] })
    const [sa, sb] = store.metricSeries({ runIds: [a.id, b.id], keys: ['train/loss'], x: 'tokens' })
    expect(sa.steps).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]) // step 1 has no token count yet
    expect(sa.x).toEqual([200, 200, 400, 400, 600, 600, 800, 800, 1000])
    expect(sb.x).toEqual([]) // b never logged tokens
    const [ta] = store.metricSeries({ runIds: [a.id], keys: ['train/loss'], x: 'time' })
    expect(ta.x.slice(0, 3)).toEqual([0.5, 1, 1.5])
    expect(() => store.metricSeries({ runIds: [a.id], keys: ['train/loss'], maxPoints: 2 })).toThrow(/maxPoints/)
    expect(() => store.metricSeries({ runIds: ['nope'], keys: ['train/loss'] })).toThrow(/unknown run/)
  })

  it('replays of a step (after a resume) replace the old point; latest is the highest step', () => {
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.recordBatch(run.id, { metrics: [0, 1, 2, 3].map((step) => ({ step, key: 'train/loss', value: 10 - step, wallTime: step })) })
    store.recordBatch(run.id, { metrics: [{ step: 2, key: 'train/loss', value: 0.5, wallTime: 9 }] })
    expect(store.metricHistory(run.id, 'train/loss').map((p) => p.value)).toEqual([10, 9, 0.5, 7])
    expect(store.getRun(run.id).metrics['train/loss']).toBe(7)
    expect(store.metricKeys(run.id)).toEqual(['train/loss'])
  })
})
