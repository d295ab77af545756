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

describe('RLHF screen after a restart', () => {
  it('lists the recorded sequences with their rounds, an interrupted one as interrupted with no Cancel', async () => {
    const world = worldWithModels()
    const round = (n: number, runId: string, policy: string) => ({ round: n, version: `RLHF-V${n}`, stage: 'rejection_sampling', runId, policy })
    const interrupted = {
      id: 'rlhf-b2',
      status: 'interrupted' as const,
      method: 'rs' as const,
      rounds: 3,
      policy: 'sft-1',
      startedAt: Date.UTC(2026, 0, 2),
      endedAt: Date.UTC(2026, 0, 2, 1),
      error: 'interrupted: the app that drove it (process 41) stopped before its last round ended; its rounds are runs in the runs list',
      started: [round(1, 'run-a', 'sft-1'), round(2, 'run-c', 'run-a')],
    }
    const finished = { ...interrupted, id: 'rlhf-a1', status: 'finished' as const, rounds: 1, startedAt: Date.UTC(2026, 0, 1), error: undefined, started: [round(1, 'run-b', 'sft-1')] }
    world.handlers['rlhf:list'] = async () => [interrupted, finished]
    const { wrapper } = await mountWithFake(RlhfView, {}, world)

    expect(wrapper.get('[data-test="rlhf-status"]').text()).toBe('interrupted')
    expect(wrapper.find('[data-test="rlhf-cancel"]').exists()).toBe(false)
    expect(wrapper.get('[data-test="rlhf-error"]').text()).toContain('stopped before its last round ended')
    expect(wrapper.get('[data-test="rlhf-sequence"]').text()).toContain('2 of 3 round(s) started')
    const rows = wrapper.findAll('[data-test="rlhf-history"] tbody tr')
    expect(rows.map((r) => r.attributes('data-sequence-id'))).toEqual(['rlhf-b2', 'rlhf-a1'])
    expect(rows.map((r) => r.get('[data-test="rlhf-history-status"]').text())).toEqual(['interrupted', 'finished'])
    expect(rows[0].findAll('a').map((a) => [a.text(), a.attributes('href')])).toEqual([['RLHF-V1', '#/runs/run-a'], ['RLHF-V2', '#/runs/run-c']])
    // A new sequence may start: the interrupted one does not hold the form.
    expect(world.calls.some((c) => c.channel === 'rlhf:get')).toBe(false)
    await rows[1].get('[data-test="rlhf-show"]').trigger('click')
    await settle()
    expect(wrapper.get('[data-test="rlhf-status"]').text()).toBe('finished')
    wrapper.unmount()
  })
})
