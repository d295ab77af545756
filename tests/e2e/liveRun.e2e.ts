// A long live run, watched on its page: a 3000-step pretraining run logging every step used to
// freeze the run page (each incoming point re-smoothed and redrew every chart over its whole
// history), so Playwright got no answer within 30 s and the flows after it failed. The page must
// keep answering while thousands of points stream in, and `workbench cancel` from a terminal
// stops the run the app started.
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

let runId = ''

function corpus(): string {
  const fish = ['carp', 'pike', 'trout', 'perch', 'eel', 'bass']
  return Array.from({ length: 400 }, (_, i) => `The ${fish[i % 6]} swims past the ${fish[(i * 5 + 1) % 6]} by stone ${i % 11}.`).join('\n')
}

/** True when the page runs a trivial script within `limitMs` (a frozen page does not). */
async function answers(ctx: E2EContext, limitMs: number): Promise<boolean> {
  const reply = ctx.page.evaluate(() => document.querySelectorAll('[data-test="chart"]').length)
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), limitMs))
  return (await Promise.race([reply.then(() => true), timeout])) as boolean
}

async function points(ctx: E2EContext): Promise<number> {
  return Number((await ctx.page.locator('[data-metric="train/loss"]').getAttribute('data-points', { timeout: 30_000 })) ?? 0)
}

const tests: E2ETest[] = [
  {
    name: 'long live run: the run page keeps answering while thousands of points stream in',
    async run(ctx) {
      const data = join(ctx.home, 'datasets', 'fish.txt')
      mkdirSync(join(ctx.home, 'datasets'), { recursive: true })
      writeFileSync(data, corpus())
      const config = { model: 'tiny', data: [data], dim: 32, n_layers: 2, n_heads: 2, seq_len: 32, vocab_size: 300, batch_size: 2, warmup_steps: 2, max_steps: 3000, log_every: 1, eval_every: 100, eval_batches: 1, sample_every: 0, checkpoint_every: 500 }
      runId = (await ctx.api('runs:create', { stage: 'pretrain', name: 'e2e-long', experiment: 'e2e', config })).id
      await goto(ctx, `#/runs/${encodeURIComponent(runId)}`)
      await ctx.page.locator('[data-metric="train/loss"]').waitFor({ timeout: 120_000 })
      // Ask the page something every half second until 1500 points have streamed in, about
      // where the unthrottled page stopped answering.
      let checks = 0
      let shown = 0
      while (shown < 1500) {
        if (!(await answers(ctx, 30_000))) throw new Error(`the run page stopped answering (30 s) with ${shown} points on the loss chart`)
        checks += 1
        shown = await points(ctx)
        const status = (await ctx.api('runs:get', { id: runId })).status
        if (status !== 'running') throw new Error(`the long run ended (${status}) at ${shown} points before the check was done`)
        await new Promise((r) => setTimeout(r, 500))
      }
      if (checks < 3) throw new Error(`only ${checks} checks: the run went faster than the check could watch`)
      await ctx.screenshot('liverun-1500-points')
    },
  },
  {
    name: 'long live run: `workbench cancel` from a terminal stops the run the app started; the page shows it stopped',
    async run(ctx) {
      const cli = spawnSync(process.execPath, ['bin/workbench.mjs', 'cancel', runId, '--home', ctx.home], { encoding: 'utf8', timeout: 180_000 })
      if (cli.status !== 0) throw new Error(`workbench cancel exited ${cli.status}: ${cli.stderr}`)
      if (!cli.stdout.includes(`run ${runId} is stopped`)) throw new Error(`unexpected output: ${cli.stdout}`)
      await waitUntil('the page to show stopped', async () => (await ctx.page.locator('.page-header [data-test="status"]').first().textContent())?.trim() === 'stopped', 60_000)
      await ctx.page.click('[data-test="tab-events"]')
      await waitUntil('the cancel in the event log', async () => ((await ctx.page.locator('[data-test="events"]').textContent()) ?? '').includes('cancel requested (SIGTERM)'), 30_000)
    },
  },
]

export default tests
