// The run page of RLHF rounds: the chain of rounds (start -> V1 -> V2) with each round's reward
// and gold figures, the selected dataset of a rejection-sampling run, and Figure 7 drawn against k.
import { describe, it, expect, afterEach } from 'vitest'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import { mountWithFake, settle } from './helpers'
import { createFakeWorld } from '../electron/fakeServices'
import type { RunDetail } from '../../electron/shared/api'

afterEach(() => {
  document.body.innerHTML = ''
})

function worldWithRounds() {
  const world = createFakeWorld()
  const t0 = Date.UTC(2026, 0, 2)
  const round = (id: string, name: string, parent: string, latest: Record<string, number>): RunDetail => ({
    id, name, experiment: 'rlhf', stage: 'rejection_sampling', status: 'finished', tags: [], createdAt: t0, parentIds: [parent], latest, config: {}, params: {},
  })
  world.runs.push(
    round('rs-1', 'RLHF-V1', 'run-c', { 'rs/kept_reward_mean': 0.5, 'gold/helpfulness': 0.4, 'gold/violation_rate': 0.2 }),
    round('rs-2', 'RLHF-V2', 'rs-1', { 'rs/kept_reward_mean': 0.9, 'gold/helpfulness': 0.55, 'gold/violation_rate': 0.1 }),
  )
  world.metrics.set('rs-1', [
    { key: 'rs/reward_max_at_k', steps: [1, 2, 3], values: [0.1, 0.4, 0.5], times: [t0, t0, t0] },
    { key: 'rs/reward_median_at_k', steps: [1, 2, 3], values: [0.1, 0.1, 0.1], times: [t0, t0, t0] },
  ])
  world.metrics.set('rs-2', [])
  const byId = (id: string) => world.runs.find((r) => r.id === id)!
  const summary = ({ config: _c, params: _p, ...rest }: RunDetail) => rest
  world.handlers['runs:lineage'] = async ({ id }) => ({
    parents: byId(id).parentIds.map((p) => ({ ...summary(byId(p)), role: byId(id).stage === 'rejection_sampling' ? 'policy' : 'base' })),
    children: world.runs.filter((r) => r.parentIds.includes(id)).map(summary),
  })
  world.handlers['runs:records'] = async ({ id, kind }) => {
    expect([id, kind]).toEqual(['rs-1', 'rs_selected'])
    return {
      rows: [
        { prompt: 'What color is the sky?', answer: 'blue', reward: 1.5, runner_up: 'green', runner_up_reward: 0.2, round: 1, gold_helpfulness: 1, gold_safety: 'safe' },
        { prompt: 'Tell me a story.', answer: 'On a windy day, Greta took her goat to', reward: 0.9, runner_up: null, runner_up_reward: null, round: 1, unfinished: true },
      ],
      total: 2,
    }
  }
  return world
}

describe('RLHF rounds on the run page', () => {
  it('shows the chain of rounds from the starting policy, with rewards and gold figures', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'rs-1' }, worldWithRounds())
    await wrapper.find('[data-test="tab-lineage"]').trigger('click')
    await settle()
    const rows = wrapper.findAll('[data-test="round"]')
    expect(rows.map((r) => r.find('a').text())).toEqual(['sft-c', 'RLHF-V1', 'RLHF-V2'])
    expect(rows[2].text()).toContain('0.9')
    expect(rows[2].text()).toContain('0.55')
    expect(rows[1].classes()).toContain('active')
  })

  it('lists the kept answers with their runner-ups in a tab of their own', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'rs-1' }, worldWithRounds())
    await wrapper.find('[data-test="tab-selected"]').trigger('click')
    await settle()
    const [row, cutRow] = wrapper.findAll('[data-test="selected-row"]')
    expect(row.text()).toContain('What color is the sky?')
    expect(row.text()).toContain('blue')
    expect(row.text()).toContain('green')
    expect(row.text()).toContain('1.5')
    // An answer cut at max_new_tokens says so (it is learned without its end-of-turn token).
    expect(row.find('[data-test="cut"]').exists()).toBe(false)
    expect(cutRow.find('[data-test="cut"]').exists()).toBe(true)
  })

  it('draws Figure 7 as one chart of max and median against k', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'rs-1' }, worldWithRounds())
    expect(wrapper.findAll('[data-metric="rs/reward_max_at_k"]')).toHaveLength(1)
    expect(wrapper.findAll('[data-metric="rs/reward_median_at_k"]')).toHaveLength(0)
    expect(wrapper.find('[data-metric="rs/reward_max_at_k"]').text()).toContain('Figure 7')
  })

  it('has no selected tab and no rounds chain for other stages', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, worldWithRounds())
    expect(wrapper.find('[data-test="tab-selected"]').exists()).toBe(false)
    await wrapper.find('[data-test="tab-lineage"]').trigger('click')
    await settle()
    expect(wrapper.find('[data-test="rounds-chain"]').exists()).toBe(false)
  })
})
