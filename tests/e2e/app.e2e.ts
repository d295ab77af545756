// The app as a person uses it, in web mode: start a tiny pretraining run from the form, watch its
// chart fill, cancel and resume it, compare it with a second run, chat with its checkpoint,
// fine-tune it and follow the lineage between the two runs.
// Tests run in order and build on each other (one server, one home).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

/** Tiny model and schedule: seconds per run on a 2-core machine. */
const TINY = { dim: '32', n_layers: '2', n_heads: '2', seq_len: '32', vocab_size: '300', batch_size: '2', warmup_steps: '2', log_every: '1', eval_every: '20', eval_batches: '1', sample_every: '50', sample_count: '1', sample_tokens: '8', checkpoint_every: '25' }

let firstRunId = ''

function corpus(): string {
  const animals = ['cat', 'dog', 'fox', 'owl', 'bee', 'elk', 'yak', 'emu']
  const verbs = ['sees', 'chases', 'finds', 'helps', 'meets', 'follows']
  return Array.from({ length: 600 }, (_, i) => `The ${animals[i % 8]} ${verbs[i % 6]} the ${animals[(i * 3 + 1) % 8]} near tree ${i % 17}.`).join('\n')
}

async function points(ctx: E2EContext, metric: string): Promise<number> {
  const chart = ctx.page.locator(`[data-metric="${metric}"]`)
  if ((await chart.count()) === 0) return 0
  return Number(await chart.getAttribute('data-points'))
}

async function headerStatus(ctx: E2EContext): Promise<string> {
  return (await ctx.page.locator('.page-header [data-test="status"]').first().textContent())?.trim() ?? ''
}

/** A few prompt/response pairs in the animals corpus's words (SFT data for the tiny model). */
function sftPairs(): string {
  const pairs = [['Who sees the dog?', 'The cat sees the dog.'], ['Who chases the fox?', 'The dog chases the fox.'], ['Who finds the owl?', 'The fox finds the owl.'], ['Who helps the bee?', 'The owl helps the bee.']]
  return pairs.map(([prompt, response]) => JSON.stringify({ prompt, response })).join('\n') + '\n'
}

/** The lineage tab of a run's page: the names of the runs listed under Parents and Children. */
async function lineageOf(ctx: E2EContext, runId: string): Promise<{ parents: string[]; children: string[] }> {
  await goto(ctx, `#/runs/${encodeURIComponent(runId)}`)
  await ctx.page.click('[data-test="tab-lineage"]')
  const lineage = ctx.page.locator('[data-test="lineage"]')
  await lineage.waitFor()
  const column = async (n: number) => (await lineage.locator(':scope > div').nth(n).locator('li').allTextContents()).map((t) => t.replace(/\s+/g, ' ').trim())
  return { parents: await column(0), children: await column(1) }
}

const tests: E2ETest[] = [
  {
    name: 'the runs screen opens with the token and explains the empty state',
    async run(ctx) {
      mkdirSync(join(ctx.home, 'datasets'), { recursive: true })
      writeFileSync(join(ctx.home, 'datasets', 'animals.txt'), corpus())
      await ctx.page.getByRole('heading', { name: 'Runs' }).waitFor()
      await ctx.page.locator('[data-test="no-runs"]').waitFor()
      if (ctx.page.url().includes('token=')) throw new Error('the token should be hidden from the address bar')
      await ctx.screenshot('01-runs-empty')
    },
  },
  {
    name: 'bad input in the form gets a message next to the field',
    async run(ctx) {
      await ctx.page.click('[data-test="nav-new"]')
      await ctx.page.selectOption('[data-test="stage"]', 'pretrain')
      await ctx.page.fill('#f-lr', 'fast')
      await ctx.page.fill('#f-max_steps', '-3')
      await ctx.page.locator('[data-test="error-lr"]').waitFor()
      const lr = await ctx.page.textContent('[data-test="error-lr"]')
      if (!lr?.includes('expected a number')) throw new Error(`unexpected lr message: ${lr}`)
      if (!(await ctx.page.isDisabled('[data-test="start"]'))) throw new Error('Start should be disabled while fields are invalid')
      await ctx.screenshot('02-new-run-validation')
    },
  },
  {
    name: 'start a tiny pretraining run from the form and watch the chart receive points',
    async run(ctx) {
      await goto(ctx, '#/runs')
      await ctx.page.click('[data-test="nav-new"]')
      await ctx.page.selectOption('[data-test="stage"]', 'pretrain')
      await ctx.page.click('[data-test="preset-tiny"]')
      await ctx.page.selectOption('[data-test="add-dataset-data"]', { label: 'animals.txt' })
      // Long enough to be still running when the next flow cancels it: with threads inside the
      // native matmul a 300-step run sometimes ended before the Cancel click landed.
      for (const [key, value] of Object.entries({ ...TINY, max_steps: '800' })) await ctx.page.fill(`#f-${key}`, value)
      await ctx.page.fill('[data-test="name"]', 'e2e-first')
      await ctx.page.fill('[data-test="experiment"]', 'e2e')
      await ctx.page.locator('[data-test="estimate-params"]').waitFor()
      await ctx.screenshot('03-new-run-filled')
      await ctx.page.click('[data-test="start"]')
      await ctx.page.waitForURL(/#\/runs\/[^/]+$/)
      firstRunId = decodeURIComponent(ctx.page.url().split('#/runs/')[1])
      await waitUntil('train/loss points on the chart', async () => (await points(ctx, 'train/loss')) >= 5, 90_000)
      const before = await points(ctx, 'train/loss')
      await waitUntil('more live points', async () => (await points(ctx, 'train/loss')) > before, 30_000)
      await ctx.screenshot('04-run-live')
    },
  },
  {
    name: 'cancel the run, then resume it to the end',
    async run(ctx) {
      await ctx.page.click('[data-test="cancel"]')
      await waitUntil('status stopped', async () => (await headerStatus(ctx)) === 'stopped', 60_000)
      await ctx.page.locator('[data-test="resume"]').waitFor()
      const atStop = await points(ctx, 'train/loss')
      await ctx.screenshot('05-run-stopped')
      await ctx.page.click('[data-test="resume"]')
      await waitUntil('more points after resuming', async () => (await points(ctx, 'train/loss')) > atStop, 90_000)
      await waitUntil('status finished', async () => (await headerStatus(ctx)) === 'finished', 240_000)
      await ctx.page.click('[data-test="tab-artifacts"]')
      await ctx.screenshot('06-run-finished')
    },
  },
  {
    name: 'compare two runs: overlay, config differences, final and best metrics',
    async run(ctx) {
      const config = Object.fromEntries(Object.entries({ ...TINY, max_steps: '40' }).map(([k, v]) => [k, Number(v)]))
      const { id } = await ctx.api('runs:create', {
        stage: 'pretrain',
        name: 'e2e-second',
        experiment: 'e2e',
        config: { ...config, model: 'tiny', lr: 0.003, data: [join(ctx.home, 'datasets', 'animals.txt')] },
      })
      await waitUntil('the second run to finish', async () => (await ctx.api('runs:get', { id })).status === 'finished', 240_000)
      await goto(ctx, '#/runs')
      for (const runId of [firstRunId, id]) await ctx.page.locator(`[data-run-id="${runId}"] input[type="checkbox"]`).check()
      await ctx.page.click('[data-test="compare"]')
      await ctx.page.locator('[data-test="config-diff"]').waitFor()
      const diff = await ctx.page.textContent('[data-test="config-diff"]')
      if (!diff?.includes('lr') || !diff.includes('max_steps')) throw new Error(`config diff misses lr / max_steps: ${diff}`)
      await waitUntil('overlay points', async () => Number(await ctx.page.getAttribute('[data-test="compare-chart"][data-metric="train/loss"]', 'data-points')) > 40)
      await ctx.screenshot('07-compare')
    },
  },
  {
    name: 'chat with a checkpoint, tokens streaming in',
    async run(ctx) {
      await ctx.page.click('[data-test="nav-chat"]')
      await waitUntil('a checkpoint in the picker', async () => (await ctx.page.locator('[data-test="checkpoint-0"] option').count()) > 1)
      await ctx.page.fill('[data-test="system"]', 'Answer about animals.')
      await ctx.page.fill('[data-test="prompt"]', 'The cat')
      await ctx.page.click('[data-test="send"]')
      await waitUntil('the reply', async () => (await ctx.page.locator('.message.assistant [data-test="message-info"]').count()) > 0, 60_000)
      const reply = await ctx.page.locator('.message.assistant .message-text').first().textContent()
      if (!reply || reply.trim() === '') throw new Error('the model answered with nothing')
      await ctx.page.check('[data-test="side-by-side"]')
      await ctx.page.fill('[data-test="prompt"]', 'The dog')
      await ctx.page.click('[data-test="send"]')
      await waitUntil('two answers side by side', async () => (await ctx.page.locator('[data-test="pane-1"] .message.assistant [data-test="message-info"]').count()) > 0, 60_000)
      await ctx.screenshot('08-chat')
    },
  },
  {
    name: 'fine-tune the pretrained model: the SFT run shows the pretraining run as its parent, and back',
    async run(ctx) {
      const data = join(ctx.home, 'datasets', 'animals-sft.jsonl')
      writeFileSync(data, sftPairs())
      const config = { base: firstRunId, data: [data], max_steps: 4, batch_size: 2, lr: 0.001, warmup_steps: 1, log_every: 1, eval_every: 4, sample_every: 0, checkpoint_every: 0, val_fraction: 0 }
      const { id } = await ctx.api('runs:create', { stage: 'sft', name: 'e2e-sft', experiment: 'e2e', config })
      await waitUntil('the SFT run to finish', async () => (await ctx.api('runs:get', { id })).status === 'finished', 240_000)

      const sft = await lineageOf(ctx, id)
      if (sft.parents.length !== 1 || !sft.parents[0].startsWith('e2e-first pretrain · base')) {
        throw new Error(`the SFT run should list e2e-first (pretrain, role base) as its one parent, lists: ${JSON.stringify(sft.parents)}`)
      }
      await ctx.screenshot('09-sft-lineage')
      // The parent's link leads to the pretraining run, which lists the SFT run as a child.
      await ctx.page.locator(`[data-test="lineage"] a[href="#/runs/${encodeURIComponent(firstRunId)}"]`).click()
      await ctx.page.waitForURL((url) => url.hash === `#/runs/${encodeURIComponent(firstRunId)}`)
      const pretrain = await lineageOf(ctx, firstRunId)
      if (!pretrain.parents.some((p) => p.startsWith('none'))) throw new Error(`the pretraining run has no parents, lists: ${JSON.stringify(pretrain.parents)}`)
      if (!pretrain.children.some((c) => c.startsWith('e2e-sft sft'))) throw new Error(`the pretraining run should list e2e-sft as a child, lists: ${JSON.stringify(pretrain.children)}`)
      // Leave for the runs list, so the next test opens the run page afresh (on its config tab).
      await goto(ctx, '#/runs')
      await ctx.page.getByRole('heading', { name: 'Runs' }).waitFor()
    },
  },
  {
    name: 'the run detail shows config and samples without errors',
    async run(ctx) {
      await goto(ctx, `#/runs/${encodeURIComponent(firstRunId)}`)
      await ctx.page.locator('[data-test="config"]').waitFor()
      // A note set from outside the page (as `workbench runs note` does) shows, and the page edits it.
      await ctx.api('runs:annotate', { id: firstRunId, notes: 'set from the CLI' })
      await goto(ctx, '#/runs')
      await goto(ctx, `#/runs/${encodeURIComponent(firstRunId)}`)
      await waitUntil('the CLI note', async () => (await ctx.page.inputValue('[data-test="notes"]')) === 'set from the CLI')
      await ctx.page.fill('[data-test="notes"]', 'good baseline')
      await ctx.page.click('[data-test="save-notes"]')
      await ctx.page.fill('[data-test="new-tag"]', 'baseline')
      await ctx.page.press('[data-test="new-tag"]', 'Enter')
      await ctx.page.locator('[data-test="tag"]', { hasText: 'baseline' }).waitFor()
      const stored = await ctx.api('runs:get', { id: firstRunId })
      if (stored.notes !== 'good baseline' || !stored.tags.includes('baseline')) throw new Error(`notes/tags not stored: ${JSON.stringify({ notes: stored.notes, tags: stored.tags })}`)
      await ctx.page.click('[data-test="tab-samples"]')
      await ctx.page.locator('[data-test="samples"]').waitFor()
      await ctx.screenshot('10-run-samples')
    },
  },
  {
    name: 'checkpoints: one best per run, labelled by its metric; a checkpoint exports to GGUF and starts a fine-tune',
    async run(ctx) {
      await goto(ctx, '#/chat')
      await waitUntil('a checkpoint in the picker', async () => (await ctx.page.locator('[data-test="checkpoint-0"] option').count()) > 1)
      const labels = (await ctx.page.locator('[data-test="checkpoint-0"] option').allTextContents()).filter((l) => l.startsWith('e2e-first '))
      const best = labels.filter((l) => l.includes('best'))
      if (best.length > 1 || best.some((l) => !/best, eval loss \d/.test(l))) throw new Error(`one best, by its eval loss, expected; labels: ${JSON.stringify(labels)}`)
      if (!labels.every((l) => /step \d+|final model/.test(l))) throw new Error(`every checkpoint should name its step: ${JSON.stringify(labels)}`)

      await goto(ctx, `#/runs/${encodeURIComponent(firstRunId)}`)
      await ctx.page.click('[data-test="tab-artifacts"]')
      await ctx.page.locator('[data-test="artifact-export"]').first().click()
      await waitUntil('the export note', async () => ((await ctx.page.locator('[data-test="export-note"]').textContent()) ?? '').includes('.gguf'), 120_000)
      await ctx.page.locator('[data-artifact-kind="export"]').first().waitFor()
      await ctx.screenshot('14-artifact-actions')

      const checkpoint = decodeURIComponent(((await ctx.page.locator('[data-test="artifact-finetune"]').first().getAttribute('href')) ?? '').split('base=')[1])
      await ctx.page.locator('[data-test="artifact-finetune"]').first().click()
      await waitUntil('the base picked', async () => (await ctx.page.locator('[data-test="parent-base"]').count()) > 0 && (await ctx.page.inputValue('[data-test="parent-base"]')) === checkpoint)
      await ctx.screenshot('15-finetune-prefilled')
    },
  },
]

export default tests
