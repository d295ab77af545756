// The RLHF screen (issue 12): a whole sequence started from the app with the policy, prompts,
// reward models, rounds, method and share of safety prompts; the rounds shown as a chain while
// they run; Cancel stops it.
import { describe, it, expect, afterEach } from 'vitest'
import RlhfView from '../../renderer/src/views/RlhfView.vue'
import { mountWithFake, settle } from './helpers'
import { createFakeWorld } from '../electron/fakeServices'

afterEach(() => {
  document.body.innerHTML = ''
})

function worldWithModels() {
  const world = createFakeWorld()
  const base = { tags: [], parentIds: [], params: {}, latest: {}, experiment: 'demo', status: 'finished' as const, createdAt: 0, config: {} }
  world.runs.push({ ...base, id: 'sft-1', name: 'demo sft', stage: 'sft' }, { ...base, id: 'rm-h', name: 'rm helpful', stage: 'reward' }, { ...base, id: 'rm-s', name: 'rm safety', stage: 'reward' })
  const stage = (name: string, presets: Record<string, Record<string, unknown>>) => ({ name, title: name, description: '', fields: [], presets, parentRoles: ['policy'] })
  world.handlers['stages:list'] = async () => [stage('rejection_sampling', { tiny: { k: 4 }, big: { k: 16 } }), stage('ppo', { tiny: { steps: 50 } })]
  return world
}

describe('RLHF screen', () => {
  it('starts a sequence with what the form says, shows its rounds, and cancels it', async () => {
    const { wrapper, world } = await mountWithFake(RlhfView, {}, worldWithModels())
    const start = wrapper.get('[data-test="rlhf-start"]')
    expect(start.attributes('disabled')).toBeDefined() // nothing picked yet
    expect(wrapper.findAll('[data-test="rlhf-policy"] option').map((o) => o.text())).toEqual(['pick an SFT or RLHF run', 'demo sft (sft)'])
    await wrapper.get('[data-test="rlhf-policy"]').setValue('sft-1')
    await wrapper.get('[data-test="rlhf-prompts"]').setValue('/tmp/home/datasets/prompts.jsonl')
    await wrapper.get('[data-test="rlhf-rm-helpful"]').setValue('rm-h')
    await wrapper.get('[data-test="rlhf-rm-safety"]').setValue('rm-s')
    await wrapper.get('[data-test="rlhf-rounds"]').setValue(3)
    await wrapper.get('[data-test="rlhf-method"]').setValue('rs+ppo')
    await wrapper.get('[data-test="rlhf-share"]').setValue('1.5')
    expect(wrapper.get('[data-test="rlhf-share-error"]').text()).toMatch(/0..1/)
    expect(start.attributes('disabled')).toBeDefined()
    await wrapper.get('[data-test="rlhf-share"]').setValue('0.25')
    // Only the presets both stages have are offered.
    expect(wrapper.findAll('[data-test="rlhf-preset"] option').map((o) => o.text())).toEqual(['stage defaults', 'tiny'])
    await wrapper.get('[data-test="rlhf-preset"]').setValue('tiny')
    expect(start.attributes('disabled')).toBeUndefined()
    await wrapper.get('form').trigger('submit')
    await settle()

    const call = world.calls.find((c) => c.channel === 'rlhf:start')!
    expect(call.args).toMatchObject({ policy: 'sft-1', prompts: '/tmp/home/datasets/prompts.jsonl', rmHelpful: 'rm-h', rmSafety: 'rm-s', rounds: 3, method: 'rs+ppo', safetyPromptShare: 0.25 })
    expect((call.args as { settings: unknown }).settings).toEqual({ rejection_sampling: { k: 4 }, ppo: { steps: 50 } })
    expect(wrapper.get('[data-test="rlhf-status"]').text()).toBe('running')
    expect(wrapper.get('[data-test="rlhf-sequence"]').text()).toContain('RLHF-V1')
    expect(wrapper.find('[data-test="rounds-chain"]').exists()).toBe(true)

    await wrapper.get('[data-test="rlhf-cancel"]').trigger('click')
    await settle()
    expect(world.calls.some((c) => c.channel === 'rlhf:cancel')).toBe(true)
    const v1 = world.runs.find((r) => r.name === 'RLHF-V1')!
    expect(v1.status).toBe('stopped')
    wrapper.unmount()
  })
})
