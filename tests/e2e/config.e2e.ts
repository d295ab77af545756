// The whole config is checked before a run exists: a cross-field rule (n_heads a multiple of
// n_kv_heads) keeps Start disabled in the form, with the message next to the field, instead of
// showing only in the preview and leaving a failed run behind.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { goto, waitUntil, type E2ETest } from './context'

const tests: E2ETest[] = [
  {
    name: 'a config that breaks a cross-field rule keeps Start disabled until it is fixed',
    async run(ctx) {
      mkdirSync(join(ctx.home, 'datasets'), { recursive: true })
      writeFileSync(join(ctx.home, 'datasets', 'config-check.txt'), 'The cat sees the dog.\n'.repeat(50))
      await goto(ctx, '#/new?stage=pretrain')
      await ctx.page.locator('#f-n_heads').waitFor()
      await ctx.page.click('[data-test="preset-tiny"]')
      await ctx.page.selectOption('[data-test="add-dataset-data"]', { label: 'config-check.txt' })
      await ctx.page.fill('#f-n_heads', '4')
      await ctx.page.fill('#f-n_kv_heads', '3')
      await ctx.page.locator('[data-test="error-n_heads"]').waitFor()
      const message = await ctx.page.textContent('[data-test="error-n_heads"]')
      if (!message?.includes('not divisible by n_kv_heads 3')) throw new Error(`unexpected n_heads message: ${message}`)
      if (!(await ctx.page.isDisabled('[data-test="start"]'))) throw new Error('Start should be disabled while the config breaks a cross-field rule')
      await ctx.screenshot('13-new-run-cross-field')
      await ctx.page.fill('#f-n_kv_heads', '2')
      await waitUntil('Start enabled once fixed', async () => !(await ctx.page.isDisabled('[data-test="start"]')), 10_000)
    },
  },
]

export default tests
