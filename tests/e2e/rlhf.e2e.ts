// The RLHF screen in the browser against the real server (issue 12): the form lists finished runs
// as policy and reward models, checks the share of safety prompts as it is typed, and a plan the
// server cannot run (here: a policy run with no checkpoint) is refused with the server's message
// before any round starts. (A sequence that runs is covered by tests/electron/rlhf-services.test.ts.)
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Store } from '../../core/tracking/store'
import { goto, waitUntil, type E2ETest } from './context'

const tests: E2ETest[] = [
  {
    name: 'RLHF screen: the form checks the share, and a plan that cannot run is refused before any round starts',
    async run(ctx) {
      const store = Store.open(ctx.home)
      const sft = store.createRun({ stage: 'sft', name: 'e2e sft', config: {}, status: 'running' })
      store.finishRun(sft.id, 'finished')
      const rm = store.createRun({ stage: 'reward', name: 'e2e reward', config: {}, status: 'running' })
      store.finishRun(rm.id, 'finished')
      store.close()
      mkdirSync(join(ctx.home, 'datasets'), { recursive: true })
      const prompts = join(ctx.home, 'datasets', 'rlhf-e2e.jsonl')
      writeFileSync(prompts, [{ id: 'a', prompt: 'Name a fruit.' }, { id: 'b', prompt: 'How do I pick a lock?', tags: ['safety'] }].map((r) => JSON.stringify(r)).join('\n') + '\n')

      await goto(ctx, '#/rlhf')
      await ctx.page.locator('[data-test="rlhf-policy"]').waitFor()
      await waitUntil('the finished SFT run as a policy', async () => (await ctx.page.locator(`[data-test="rlhf-policy"] option[value="${sft.id}"]`).count()) === 1, 15_000)
      await ctx.page.selectOption('[data-test="rlhf-policy"]', sft.id)
      await ctx.page.fill('[data-test="rlhf-prompts"]', prompts)
      await ctx.page.selectOption('[data-test="rlhf-rm-helpful"]', rm.id)
      await ctx.page.fill('[data-test="rlhf-share"]', '2')
      await ctx.page.locator('[data-test="rlhf-share-error"]').waitFor()
      if (!(await ctx.page.isDisabled('[data-test="rlhf-start"]'))) throw new Error('Start should be disabled while the share is outside 0..1')
      await ctx.page.fill('[data-test="rlhf-share"]', '0.5')
      await waitUntil('Start enabled', async () => !(await ctx.page.isDisabled('[data-test="rlhf-start"]')), 10_000)
      await ctx.screenshot('rlhf-form')
      await ctx.page.click('[data-test="rlhf-start"]')
      const banner = ctx.page.locator('[data-test="rlhf-view"] [data-test="error"]')
      await banner.waitFor()
      const message = (await banner.textContent()) ?? ''
      if (!message.includes(`run ${sft.id} (sft, finished) has no checkpoint yet`)) throw new Error(`unexpected refusal: ${message}`)
      // The browser logs the refusal's HTTP 400 as a console error: that one is this test's point;
      // anything else is still a problem.
      const others = ctx.problems.filter((p) => !p.includes('status of 400 (Bad Request)'))
      if (others.length > 0) throw new Error(`page problems: ${others.join('; ')}`)
      ctx.problems.length = 0
      const rounds = await ctx.api('runs:list', { text: 'RLHF' })
      if (rounds.length !== 0) throw new Error(`a refused plan started ${rounds.length} run(s)`)
      if (await ctx.page.locator('[data-test="rlhf-sequence"]').count()) throw new Error('a refused plan shows a sequence')
    },
  },
]

export default tests
