// The reward model in the app: a reward run's page shows accuracy by strength beside the
// baselines, the score histograms and the verdict; the chat shows a picked reward model's score.
import { describe, it, expect, afterEach } from 'vitest'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import ChatView from '../../renderer/src/views/ChatView.vue'
import { createFakeWorld } from '../electron/fakeServices'
import { mountWithFake, settle } from './helpers'

afterEach(() => {
  document.body.innerHTML = ''
})

const META = {
  accuracy: 0.62,
  accuracy_by_rating: { significantly_better: 0.8, negligibly_better: 0.5 },
  baseline_shorter: 0.4,
  baseline_longer: 0.66,
  baseline_bow: 0.6,
  verdict: 'the reward model does NOT beat the best trivial baseline: accuracy 62.0% vs longer 66.0%',
  beats_baselines: false,
  histogram: { edges: [-1, 0, 1], chosen: [1, 3], rejected: [3, 1] },
}

describe('reward run page', () => {
  it('draws accuracy by strength beside the baselines, the histograms, and says when it does not beat them', async () => {
    const world = createFakeWorld()
    world.handlers['runs:artifacts'] = async () => [{ kind: 'reward_eval', path: 'runs/r/reward_eval.json', absPath: '/tmp/r/reward_eval.json', step: 10, meta: META }]
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, world)
    const report = wrapper.find('[data-test="reward-report"]')
    expect(report.exists()).toBe(true)
    expect(wrapper.find('[data-test="reward-verdict"]').text()).toContain('does NOT beat')
    const bars = wrapper.findAll('[data-test="accuracy-bar"]').map((b) => b.text())
    expect(bars).toEqual(['overall62.0%', 'significantly better80.0%', 'negligibly better50.0%', 'shorter wins40.0%', 'longer wins66.0%', 'bag of words60.0%'])
    expect(report.findAll('rect.bar-chosen')).toHaveLength(2)
  })

  it('shows nothing of the kind for other runs', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' })
    expect(wrapper.find('[data-test="reward-report"]').exists()).toBe(false)
  })
})

describe('chat with a reward model', () => {
  it('offers reward checkpoints and shows the score beside each reply', async () => {
    const world = createFakeWorld()
    world.handlers['checkpoints:list'] = async () => [
      { path: '/tmp/home/runs/run-a/ckpt', label: 'sft', runId: 'run-a', stage: 'sft' },
      { path: '/tmp/home/runs/rm/ckpt', label: 'rm', runId: 'rm', stage: 'reward' },
    ]
    const { wrapper } = await mountWithFake(ChatView, {}, world)
    const select = wrapper.find('[data-test="reward-model"]')
    expect(select.findAll('option').map((o) => o.text())).toEqual(['(none)', 'rm'])
    await select.setValue('/tmp/home/runs/rm/ckpt')
    await wrapper.find('[data-test="prompt"]').setValue('hi')
    await wrapper.find('[data-test="send"]').trigger('click')
    await settle()
    expect(world.calls.find((c) => c.channel === 'reward:score')?.args).toMatchObject({ checkpoint: '/tmp/home/runs/rm/ckpt', answer: 'Hello from the fake model (1 msgs)' })
    expect(wrapper.find('[data-test="message-reward"]').text()).toBe('· reward 3.400')
  })
})
