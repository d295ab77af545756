// Annotating preferences in the app: a tiny random checkpoint (recorded as a run) answers two
// typed prompts at two temperatures; the person judges from the keyboard, reloads the page (as
// after closing the app) and finds the judgement kept, counted in the dataset summary.
import path from 'node:path'
import { waitUntil, type E2ETest } from './context'
import { initBackend } from '../../core/backend'
import { Tokenizer } from '../../core/tokenizer'
import { Llama } from '../../core/model/llama'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Store } from '../../core/tracking/store'

async function recordTinyCheckpoint(home: string): Promise<void> {
  await initBackend('cpu')
  const tokenizer = Tokenizer.train(['the cat sees the dog near the tree and the owl follows '.repeat(20)], { vocabSize: 300 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 2, n_kv_heads: 1, max_seq_len: 64 }, 1)
  const store = Store.open(home)
  try {
    const run = store.createRun({ stage: 'import', name: 'e2e-annotator-model', config: {}, status: 'running' })
    const dir = await saveCheckpoint(path.join(home, 'runs', run.id, 'model'), { config: model.config, weights: model.weights, tokenizer })
    store.addArtifact(run.id, { kind: 'checkpoint', path: dir })
    store.finishRun(run.id, 'finished')
  } finally {
    model.dispose()
    store.close()
  }
}

const tests: E2ETest[] = [
  {
    name: 'annotate a preference pair from the keyboard; the judgement survives a reload',
    async run(ctx) {
      await recordTinyCheckpoint(ctx.home)
      // A fresh page load (the page's HTML needs the token URL; the app then hides the token).
      await ctx.page.goto(`${ctx.url.split('#')[0]}#/preferences`)
      await ctx.page.getByRole('heading', { name: 'Preferences' }).waitFor()
      await ctx.page.fill('[data-test="annotator"]', 'e2e')
      await ctx.page.fill('[data-test="session-name"]', 'e2e session')
      await ctx.page.fill('[data-test="typed-prompts"]', 'the cat\nthe dog')
      await ctx.page.selectOption('[data-test="checkpoint-a"]', { label: (await ctx.page.locator('[data-test="checkpoint-a"] option', { hasText: 'e2e-annotator-model' }).first().textContent())!.trim() })
      await ctx.page.click('[data-test="start-session"]')
      await ctx.page.locator('[data-test="choose-a"]:not([disabled])').waitFor({ timeout: 60_000 })
      await ctx.screenshot('preferences-01-pair')
      await ctx.page.locator('body').click({ position: { x: 5, y: 5 } })
      for (const key of ['b', '3', 'd']) await ctx.page.keyboard.press(key)
      await ctx.page.locator('[data-test="save"]:not([disabled])').waitFor()
      await ctx.page.keyboard.press('Enter')
      await waitUntil('progress 1 / 2', async () => (await ctx.page.textContent('[data-test="progress"]'))?.trim() === '1 / 2 judged', 60_000)
      // Close the page mid-session (the second pair on screen), then come back.
      await ctx.page.goto(`${ctx.url.split('#')[0]}#/preferences`)
      await ctx.page.getByRole('heading', { name: 'Preferences' }).waitFor()
      const row = ctx.page.locator('[data-test="dataset-row"]', { hasText: 'e2e session' })
      await row.locator('[data-test="summary"]').click()
      await ctx.page.locator('[data-test="dataset-summary"]').waitFor()
      const strength = await ctx.page.textContent('[data-test="count-slightly_better"]')
      const label = await ctx.page.textContent('[data-test="count-both_safe"]')
      if (!strength?.includes('1') || !label?.includes('1')) throw new Error(`the saved judgement is missing from the summary: ${strength} / ${label}`)
      await ctx.screenshot('preferences-02-summary')
    },
  },
]

export default tests
