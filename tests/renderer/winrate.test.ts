// The Win rate screen (blind side-by-side, seven-point scale from the keyboard) and the Leaderboard
// table, against the fake services.
import { describe, it, expect, afterEach } from 'vitest'
import WinrateView from '../../renderer/src/views/WinrateView.vue'
import LeaderboardView from '../../renderer/src/views/LeaderboardView.vue'
import { createFakeWorld } from '../electron/fakeServices'
import { mountWithFake as mount, settle } from './helpers'

const mounted: { unmount(): void }[] = []
async function mountWithFake(...args: Parameters<typeof mount>) {
  const result = await mount(...args)
  mounted.push(result.wrapper)
  return result
}
afterEach(() => {
  for (const w of mounted.splice(0)) w.unmount()
  document.body.innerHTML = ''
  localStorage.clear()
})

function press(key: string) {
  window.dispatchEvent(new KeyboardEvent('keydown', { key }))
}

describe('Win rate screen', () => {
  it('shows a pair as left and right, rates it with keys 1-7 and moves to the next unjudged pair', async () => {
    const world = createFakeWorld()
    world.runs.push({ ...structuredClone(world.runs[0]), id: 'wr-1', name: 'a vs b', stage: 'winrate', status: 'finished' })
    const { wrapper } = await mountWithFake(WinrateView, {}, world)
    await wrapper.find('[data-test="winrate-run"]').setValue('wr-1')
    await wrapper.find('[data-test="winrate-annotator"]').setValue('ada')
    await wrapper.find('[data-test="winrate-open"]').trigger('click')
    await settle()
    expect(wrapper.find('[data-test="winrate-left"]').text()).toBe('Blue.')
    expect(wrapper.find('[data-test="winrate-right"]').text()).toBe('I like green a lot.')
    expect(wrapper.text()).not.toMatch(/model A|answer_a/)

    press('7') // right much better
    await settle()
    expect(world.calls.find((c) => c.channel === 'winrate:judge')?.args).toEqual({ id: 'wr-1', index: 0, annotator: 'ada', rating: -3 })
    expect(wrapper.find('[data-test="winrate-left"]').text()).toBe('1 2 3') // moved on
    press('4') // tie
    await settle()
    expect(world.calls.filter((c) => c.channel === 'winrate:judge').map((c) => (c.args as { rating: number }).rating)).toEqual([-3, 0])
    press('ArrowLeft')
    await settle()
    expect(wrapper.find('[data-test="winrate-rate-7"]').classes()).toContain('chosen')
  })

  it('asks for a run and a name before judging', async () => {
    const { wrapper, world } = await mountWithFake(WinrateView)
    await wrapper.find('[data-test="winrate-open"]').trigger('click')
    await settle()
    expect(wrapper.text()).toContain('pick a run and type your name')
    expect(world.calls.some((c) => c.channel === 'winrate:pairs')).toBe(false)
  })
})

describe('Leaderboard screen', () => {
  it('lists the models by rating with their intervals', async () => {
    const { wrapper } = await mountWithFake(LeaderboardView)
    const rows = wrapper.findAll('[data-test="leaderboard"] tr').slice(1).map((r) => r.findAll('td').map((c) => c.text()))
    expect(rows).toEqual([
      ['1', 'run-a', '1120', '1050 – 1190', '40'],
      ['2', 'run-b', '880', '810 – 950', '40'],
    ])
  })
})
