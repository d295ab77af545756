// Chart controls on awkward series: zeros, negatives, NaN, a single point. Ticking log scale used to
// blank the charts with "Cannot read properties of null (reading 'toExponential')" and leave the
// error banner behind after unticking. The runs are written straight into the store, as a CLI run
// on the same home would be.
import { Store } from '../../core/tracking/store'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

/** Metric series no training run produces on purpose, but real ones do by accident. */
const AWKWARD: Record<string, number[]> = {
  'train/loss': [3, 2.5, 0, 1.2, 1.1],
  'train/all_zero': [0, 0, 0, 0, 0],
  'train/negative': [-1, -2, -0.5, -3, -4],
  'train/with_nan': [1, NaN, 0.5, Infinity, 0.25],
  'train/mixed_sign': [-1, 0, 1e-6, 10, 1000],
  'eval/one_point': [0.42],
}

function writeAwkwardRun(home: string, name: string, scale: number): string {
  const store = Store.open(home)
  try {
    const run = store.createRun({ experiment: 'charts', name, stage: 'pretrain', config: { scale }, status: 'running' })
    const metrics = Object.entries(AWKWARD).flatMap(([key, values]) => values.map((value, step) => ({ step, key, value: value * scale, wallTime: Date.now() + step })))
    store.recordBatch(run.id, { metrics })
    store.finishRun(run.id, 'finished')
    return run.id
  } finally {
    store.close()
  }
}

/** No chart failed, no error banner, no page error (the harness checks those after each test). */
async function expectChartsIntact(ctx: E2EContext, where: string) {
  // uPlot draws in a microtask after the data arrives: give it a frame before looking.
  await ctx.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  const failures = await ctx.page.locator('[data-test="chart-failure"]').allTextContents()
  if (failures.length > 0) throw new Error(`${where}: charts failed: ${failures.join('; ')}`)
  const banner = await ctx.page.locator('[data-test="error"]').allTextContents()
  if (banner.length > 0) throw new Error(`${where}: error banner: ${banner.join('; ')}`)
  if (ctx.problems.length > 0) throw new Error(`${where}: ${ctx.problems.join('; ')}`)
}

let first = ''
let second = ''

const tests: E2ETest[] = [
  {
    name: 'log scale, smoothing and x axis never break a chart on zeros, negatives, NaN or one point',
    async run(ctx) {
      first = writeAwkwardRun(ctx.home, 'awkward-1', 1)
      second = writeAwkwardRun(ctx.home, 'awkward-2', 2)
      await goto(ctx, `#/runs/${encodeURIComponent(first)}`)
      // A metric logged once by a finished run is a result (a table row), the others are charts.
      const charted = Object.keys(AWKWARD).filter((k) => AWKWARD[k].length > 1).length
      await waitUntil('the charts', async () => (await ctx.page.locator('[data-test="chart"]').count()) >= charted)
      await ctx.page.locator('[data-result="eval/one_point"]').waitFor()
      await expectChartsIntact(ctx, 'linear')
      await ctx.page.check('[data-test="log-scale"]')
      await expectChartsIntact(ctx, 'log scale')
      const drawn = await ctx.page.locator('[data-test="chart"] canvas').count()
      if (drawn < charted) throw new Error(`only ${drawn} charts drew a canvas on log scale`)
      await ctx.page.locator('[data-metric="train/negative"] [data-test="log-unavailable"]').waitFor()
      await ctx.screenshot('11-charts-log-scale')
      await ctx.page.fill('[data-test="smoothing"]', '0.9')
      await ctx.page.selectOption('[data-test="x-axis"]', 'time')
      await expectChartsIntact(ctx, 'log scale, smoothing 0.9, time axis')
      await ctx.page.uncheck('[data-test="log-scale"]')
      await expectChartsIntact(ctx, 'after unticking log scale')
    },
  },
  {
    name: 'the compare chart survives log scale on every metric',
    async run(ctx) {
      await goto(ctx, `#/compare?ids=${encodeURIComponent(first)},${encodeURIComponent(second)}`)
      // Every metric at once in the compare grid.
      await ctx.page.click('[data-test="compare-all-metrics"]')
      const all = Object.keys(AWKWARD).length
      await waitUntil('a compare chart per metric', async () => (await ctx.page.locator('[data-test="compare-chart"]').count()) === all)
      await ctx.page.check('[data-test="compare-log-scale"]')
      await expectChartsIntact(ctx, 'every compare chart on log scale')
      await ctx.screenshot('12-compare-log-scale')
      await ctx.page.uncheck('[data-test="compare-log-scale"]')
      await expectChartsIntact(ctx, 'compare after unticking')
    },
  },
]

export default tests
