// Finding runs and comparing them: search the runs table by a config value, add a nested config
// key as a column, open Compare with a grid of metrics (raw next to smoothed, the legend reading the
// raw value), the x-axis choice and the parallel-coordinates view; and the empty Compare page,
// which explains itself instead of showing a red banner. The sweep's runs are written straight
// into the store, as a CLI run on the same home would be (seconds, not minutes of training).
import { Store } from '../../core/tracking/store'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

/** A small learning-rate and depth sweep. The last eval/loss of each is exact to 3 decimals. */
const SWEEP = [
  { name: 'sweep-lr3e-4-l4', lr: 3e-4, n_layers: 4, schedule: 'cosine', evalLoss: 3.165 },
  { name: 'sweep-lr1e-3-l2', lr: 1e-3, n_layers: 2, schedule: 'cosine', evalLoss: 3.402 },
  { name: 'sweep-lr1e-2-l4', lr: 1e-2, n_layers: 4, schedule: 'linear', evalLoss: 4.25 },
]
const STEPS = 60

function writeSweep(home: string): string[] {
  const store = Store.open(home)
  try {
    return SWEEP.map((s, r) => {
      const config = { lr: s.lr, schedule: s.schedule, batch_size: 4, seq_len: 32, max_steps: STEPS, model: { n_layers: s.n_layers, dim: 32 } }
      const run = store.createRun({ experiment: 'compare-sweep', name: s.name, stage: 'pretrain', config, status: 'running' })
      const t0 = Date.now()
      const metrics = []
      for (let step = 1; step <= STEPS; step++) {
        // Noisy, so the smoothed line is visibly not the raw one.
        const noise = (step % 3 === 0 ? 0.4 : -0.2) * (1 + r)
        metrics.push({ step, key: 'train/loss', value: 6 / Math.sqrt(step) + 2 + noise, wallTime: t0 + step * 100 })
        metrics.push({ step, key: 'train/grad_norm', value: 1 + noise, wallTime: t0 + step * 100 })
        if (step % 10 === 0) {
          const value = step === STEPS ? s.evalLoss : s.evalLoss + 1.5 - step / 60 + (step % 20 === 0 ? 0.5 : 0)
          metrics.push({ step, key: 'eval/loss', value, wallTime: t0 + step * 100 })
        }
      }
      store.recordBatch(run.id, { metrics })
      store.finishRun(run.id, 'finished')
      return run.id
    })
  } finally {
    store.close()
  }
}

async function rowNames(ctx: E2EContext): Promise<string[]> {
  return (await ctx.page.locator('[data-test="run-row"] [data-test="run-link"]').allTextContents()).map((t) => t.trim())
}

/** Waits until the visible runs are exactly `names` (in any order). */
async function expectRows(ctx: E2EContext, what: string, names: string[]) {
  const want = [...names].sort().join(', ')
  await waitUntil(`${what}: rows ${want}`, async () => (await rowNames(ctx)).sort().join(', ') === want, 10_000).catch(async (e) => {
    throw new Error(`${e.message}; shown: ${(await rowNames(ctx)).join(', ')}`)
  })
}

async function expectNoErrors(ctx: E2EContext, where: string) {
  await ctx.page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  const banner = await ctx.page.locator('[data-test="error"]').allTextContents()
  if (banner.length > 0) throw new Error(`${where}: error banner: ${banner.join('; ')}`)
  const failures = await ctx.page.locator('[data-test="chart-failure"]').allTextContents()
  if (failures.length > 0) throw new Error(`${where}: charts failed: ${failures.join('; ')}`)
  if (ctx.problems.length > 0) throw new Error(`${where}: ${ctx.problems.join('; ')}`)
}

let sweepIds: string[] = []

const tests: E2ETest[] = [
  {
    name: 'compare: the empty Compare page explains how to choose runs, without an error banner',
    async run(ctx) {
      await goto(ctx, '#/compare')
      const empty = ctx.page.locator('[data-test="compare-empty"]')
      await empty.waitFor()
      const text = (await empty.textContent()) ?? ''
      if (!text.includes('Tick the box') || !text.includes('Compare')) throw new Error(`the empty page does not say how to choose runs: ${text}`)
      await expectNoErrors(ctx, 'empty compare')
      await ctx.screenshot('30-compare-empty')
    },
  },
  {
    name: 'compare: search the runs by config values and add a nested config key as a sortable column',
    async run(ctx) {
      sweepIds = writeSweep(ctx.home)
      await goto(ctx, '#/runs')
      await ctx.page.locator('[data-test="filter-experiment"]').selectOption('compare-sweep')
      await expectRows(ctx, 'the sweep', SWEEP.map((s) => s.name))
      // 3e-4 finds the run whose config says 0.0003.
      await ctx.page.fill('[data-test="filter-text"]', 'lr=3e-4')
      await expectRows(ctx, 'lr=3e-4', [SWEEP[0].name])
      await ctx.page.fill('[data-test="filter-text"]', 'n_layers:4')
      await expectRows(ctx, 'n_layers:4', [SWEEP[0].name, SWEEP[2].name])
      await ctx.page.fill('[data-test="filter-text"]', 'linear')
      await expectRows(ctx, 'the plain word linear', [SWEEP[2].name])
      await ctx.page.fill('[data-test="filter-text"]', 'eval/loss<3.5 lr<=0.001')
      await expectRows(ctx, 'eval/loss<3.5 lr<=0.001', [SWEEP[0].name, SWEEP[1].name])
      await ctx.screenshot('31-runs-search-config')
      await ctx.page.fill('[data-test="filter-text"]', '')
      await expectRows(ctx, 'no search', SWEEP.map((s) => s.name))

      await ctx.page.click('[data-test="columns-toggle"]')
      await ctx.page.selectOption('[data-test="add-config-column"]', 'model.n_layers')
      await ctx.page.selectOption('[data-test="add-config-column"]', 'lr')
      const cells = async () => (await ctx.page.locator('td[data-column="config:model.n_layers"]').allTextContents()).map((t) => t.trim())
      await waitUntil('the n_layers column', async () => (await cells()).length === SWEEP.length)
      await ctx.page.click('[data-test="sort-config:model.n_layers"]')
      const sorted = await cells()
      if (sorted.join(',') !== '2,4,4') throw new Error(`sorting by model.n_layers gave ${sorted.join(',')}`)
      await ctx.screenshot('32-runs-config-columns')
      // The choice survives reloading the app (the token URL: a plain reload has no token).
      await ctx.page.goto(ctx.url)
      await ctx.page.getByRole('heading', { name: 'Runs' }).waitFor()
      await ctx.page.locator('td[data-column="config:lr"]').first().waitFor()
    },
  },
  {
    name: 'compare: a grid of metrics (raw and smoothed, raw values in the legend), the x axis, and parallel coordinates',
    async run(ctx) {
      await goto(ctx, '#/runs')
      await ctx.page.locator('[data-test="filter-experiment"]').selectOption('compare-sweep')
      await expectRows(ctx, 'the sweep', SWEEP.map((s) => s.name))
      for (const id of sweepIds) await ctx.page.locator(`[data-run-id="${id}"] input[type="checkbox"]`).check()
      await ctx.page.click('[data-test="compare"]')
      const chart = (metric: string) => ctx.page.locator(`[data-test="compare-chart"][data-metric="${metric}"]`)
      await chart('train/loss').waitFor()
      await chart('eval/loss').waitFor()
      await ctx.page.check('[data-test="compare-metric"][data-metric="train/grad_norm"]')
      await chart('train/grad_norm').waitFor()
      const points = Number(await chart('train/loss').getAttribute('data-points'))
      if (points !== SWEEP.length * STEPS) throw new Error(`train/loss shows ${points} points, expected ${SWEEP.length * STEPS} (raw, smoothed not counted)`)
      await expectNoErrors(ctx, 'compare grid')

      // Hovering the last eval point: the legend reads each run's logged value (3.165), not the smoothed one.
      const over = chart('eval/loss').locator('.u-over')
      const box = await over.boundingBox()
      if (!box) throw new Error('the eval/loss chart has no plot area')
      await ctx.page.mouse.move(box.x + box.width - 2, box.y + box.height / 2)
      const legend = async () => (await chart('eval/loss').locator('.u-legend').textContent()) ?? ''
      await waitUntil('the hover legend', async () => (await legend()).includes('3.165'), 10_000).catch(async () => {
        throw new Error(`the legend at the last step does not read the raw 3.165: ${await legend()}`)
      })
      await ctx.screenshot('33-compare-grid')

      for (const mode of ['tokens', 'time', 'step']) {
        await ctx.page.selectOption('[data-test="compare-x-axis"]', mode)
        await expectNoErrors(ctx, `x axis ${mode}`)
        if (await ctx.page.locator('[data-test="compare-x-missing"]').count()) throw new Error(`runs left out on the ${mode} axis`)
      }

      const pc = ctx.page.locator('[data-test="parallel-coords"]')
      await pc.scrollIntoViewIfNeeded()
      const axes = await pc.locator('[data-test="pc-axis"]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-key')}:${e.getAttribute('data-kind')}`))
      // The config keys that vary (batch_size, seq_len, dim... do not), then the final metric.
      const expected = ['lr:numeric', 'model.n_layers:numeric', 'schedule:categorical', 'eval/loss:numeric']
      if (axes.join(' ') !== expected.join(' ')) throw new Error(`parallel-coordinates axes: ${axes.join(' ')}; expected ${expected.join(' ')}`)
      const lines = await pc.locator('[data-test="pc-line"]').count()
      if (lines !== SWEEP.length) throw new Error(`${lines} parallel-coordinates lines for ${SWEEP.length} runs`)
      await pc.locator(`[data-test="pc-line"][data-run-id="${sweepIds[0]}"] path`).first().hover()
      await ctx.screenshot('34-compare-parallel-coordinates')
      await ctx.page.selectOption('[data-test="pc-metric"]', 'train/loss')
      const last = await pc.locator('[data-test="pc-axis"]').last().getAttribute('data-key')
      if (last !== 'train/loss') throw new Error(`the last axis is ${last} after choosing train/loss`)
      await expectNoErrors(ctx, 'parallel coordinates')
    },
  },
]

export default tests
