// A run started from the CLI, watched in the app (issue 15, items 7 and 9): the run list and the
// run page show its step, ETA and progress bar live, read from the store its worker writes; a
// cancel from the app stops the CLI's run (the CLI exits 130) and the event log says so; the run
// page has the System group (CPU, memory with units).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

let cli: ChildProcess | null = null
let cliExit: Promise<number | null> = Promise.resolve(null)
let runId = ''

function corpus(): string {
  const birds = ['wren', 'crow', 'kite', 'lark', 'rook', 'teal']
  return Array.from({ length: 400 }, (_, i) => `The ${birds[i % 6]} sings to the ${birds[(i * 5 + 1) % 6]} at dawn ${i % 13}.`).join('\n')
}

/** `workbench pretrain` as a person types it, against the e2e home; long enough to watch. */
function startCliRun(ctx: E2EContext): void {
  const data = join(ctx.home, 'datasets', 'birds.txt')
  mkdirSync(join(ctx.home, 'datasets'), { recursive: true })
  writeFileSync(data, corpus())
  const set = { dim: 32, n_layers: 2, n_heads: 2, seq_len: 32, vocab_size: 300, batch_size: 2, max_steps: 5000, log_every: 5, eval_every: 1000, sample_every: 0, checkpoint_every: 50 }
  const args = ['bin/workbench.mjs', 'pretrain', '--data', data, '--home', ctx.home, '--backend', 'wasm', '--name', 'from-the-cli']
  for (const [key, value] of Object.entries(set)) args.push('--set', `${key}=${value}`)
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  cliExit = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  child.on('exit', (code) => {
    if (code !== 0 && code !== 130 && stderr) console.error(`workbench pretrain exited ${code}:\n${stderr}`)
  })
  cli = child
}

/** The step the run page shows ("step 12 / 5000 (0%) · ... · ETA 3m 10s"), or null. */
async function shownStep(ctx: E2EContext): Promise<{ step: number; text: string } | null> {
  const text = (await ctx.page.locator('[data-test="progress"]').textContent()) ?? ''
  const m = /step (\d+) \/ 5,?000/.exec(text)
  return m ? { step: Number(m[1]), text } : null
}

const tests: E2ETest[] = [
  {
    name: 'a CLI-started run shows its step, ETA and progress bar in the run list',
    async run(ctx) {
      startCliRun(ctx)
      runId = await waitUntil('the CLI run to be running', async () => {
        const runs = await ctx.api('runs:list', {})
        return runs.find((r: any) => r.name === 'from-the-cli' && r.status === 'running' && r.progress)?.id
      }, 120_000)
      await goto(ctx, '#/runs')
      const row = ctx.page.locator(`[data-run-id="${runId}"]`)
      await row.locator('[data-test="run-progress"]').waitFor()
      await waitUntil('the list to show the ETA', async () => /\d+\/5000 · ETA/.test((await row.locator('[data-test="run-progress-text"]').textContent()) ?? ''))
      await ctx.screenshot('progress-cli-run-list')
    },
  },
  {
    name: 'a CLI-started run shows its step and ETA on the run page, live, with the System charts',
    async run(ctx) {
      await goto(ctx, `#/runs/${encodeURIComponent(runId)}`)
      const first = await waitUntil('the run page to show the step', () => shownStep(ctx), 60_000)
      if (!/ETA \d/.test(first.text)) throw new Error(`no ETA on the run page: "${first.text}"`)
      // Live: the step moves on without a reload (pushed from the store the CLI's worker writes).
      await waitUntil('the shown step to advance', async () => ((await shownStep(ctx))?.step ?? 0) > first.step, 60_000)
      const system = ctx.page.locator('[data-test="system-charts"]')
      await system.waitFor()
      const titles = (await system.locator('figcaption').allTextContents()).join(' | ')
      for (const expected of [/CPU use \(% of one core\)/, /Resident memory \((MB|GB)\)/, /Backend tensors \((MB|GB)\)/]) {
        if (!expected.test(titles)) throw new Error(`System charts lack ${expected}: ${titles}`)
      }
      await ctx.screenshot('progress-cli-run-page')
    },
  },
  {
    name: 'cancelling a CLI-started run from the app stops it and the event log shows the cancel',
    async run(ctx) {
      try {
        await ctx.page.click('[data-test="cancel"]')
        const code = await Promise.race([cliExit, new Promise<string>((r) => setTimeout(() => r('timeout'), 120_000))])
        if (code !== 130) throw new Error(`the CLI should exit 130 (stopped) after the cancel, got ${code}`)
        await waitUntil('the stopped status', async () => (await ctx.page.locator('.page-header [data-test="status"]').first().textContent())?.trim() === 'stopped')
        await ctx.page.click('[data-test="tab-events"]')
        const log = ctx.page.locator('[data-test="events"]')
        await waitUntil('the cancel and stop events', async () => {
          const text = (await log.textContent()) ?? ''
          return /cancel requested \(SIGTERM\)/.test(text) && /stopped at step \d+/.test(text)
        })
        await ctx.screenshot('progress-cli-run-cancelled')
      } finally {
        if (cli && cli.exitCode === null) cli.kill('SIGKILL')
      }
    },
  },
]

export default tests
