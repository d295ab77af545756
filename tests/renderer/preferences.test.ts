// The Preferences screen against the fake services: start a session, stream a pair, judge it from
// the keyboard, skip, undo, and read a dataset's summary.
import { describe, it, expect, afterEach } from 'vitest'
import PreferencesView from '../../renderer/src/views/PreferencesView.vue'
import { mountWithFake as mount, settle } from './helpers'

// The screen listens on window for its shortcuts: unmount each one so it stops listening.
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

async function startTyped(wrapper: Awaited<ReturnType<typeof mountWithFake>>['wrapper'], prompts: string) {
  await wrapper.find('[data-test="annotator"]').setValue('ada')
  await wrapper.find('[data-test="typed-prompts"]').setValue(prompts)
  await wrapper.find('[data-test="start-session"]').trigger('click')
  await settle()
}

describe('Preferences screen', () => {
  it('needs an annotator name before starting', async () => {
    const { wrapper, world } = await mountWithFake(PreferencesView)
    await wrapper.find('[data-test="typed-prompts"]').setValue('Hi?')
    await wrapper.find('[data-test="start-session"]').trigger('click')
    await settle()
    expect(wrapper.text()).toContain('Type your name as the annotator first.')
    expect(world.calls.some((c) => c.channel === 'prefs:start')).toBe(false)
  })

  it('starts a session with one checkpoint at two temperatures and shows the pair with shortcuts', async () => {
    const { wrapper, world } = await mountWithFake(PreferencesView)
    await startTyped(wrapper, 'First prompt?\n\nSecond prompt?')
    const start = world.calls.find((c) => c.channel === 'prefs:start')!.args as any
    expect(start.prompts).toEqual({ kind: 'typed', texts: ['First prompt?', 'Second prompt?'] })
    expect(start.sources).toEqual([{ checkpoint: '/tmp/home/runs/run-a/ckpt', temperature: 0.7 }, { checkpoint: '/tmp/home/runs/run-a/ckpt', temperature: 1.2 }])
    expect(wrapper.find('[data-test="progress"]').text()).toBe('0 / 2 judged')
    expect(wrapper.find('[data-test="prompt"]').text()).toContain('First prompt?')
    expect(wrapper.find('[data-test="answer-a"]').text()).toContain('Answer A0')
    expect(wrapper.find('[data-test="answer-b"]').text()).toContain('Answer B0')
    expect(wrapper.find('[data-test="shortcuts"]').text()).toContain('a / b choose · 1-4 strength · s / d / u safety label')
    expect(localStorage.getItem('workbench-annotator')).toBe('ada')
  })

  it('judges from the keyboard, skips and undoes, each saved through the API at once', async () => {
    const { wrapper, world } = await mountWithFake(PreferencesView)
    await startTyped(wrapper, 'One?\nTwo?\nThree?')
    expect(wrapper.find('[data-test="save"]').attributes('disabled')).toBeDefined()
    press('b')
    press('2')
    press('u')
    await settle()
    expect(wrapper.find('[data-test="answer-b"]').classes()).toContain('chosen')
    expect(wrapper.find('[data-test="rating-better"]').classes()).toContain('active')
    press('Enter')
    await settle()
    expect(world.annotations.judgements).toEqual([{ id: 'session-1', itemId: 100, annotator: 'ada', choice: 'b', rating: 'better', safety: 'both_unsafe' }])
    expect(wrapper.find('[data-test="progress"]').text()).toBe('1 / 3 judged')
    expect(wrapper.find('[data-test="prompt"]').text()).toContain('Two?')
    // The new pair starts with nothing chosen.
    expect(wrapper.find('[data-test="answer-b"]').classes()).not.toContain('chosen')

    press('k')
    await settle()
    expect(world.annotations.judgements.at(-1)).toMatchObject({ itemId: 101, choice: null })
    expect(wrapper.find('[data-test="prompt"]').text()).toContain('Three?')

    press('z')
    await settle()
    expect(world.annotations.judgements).toHaveLength(1)
    expect(wrapper.find('[data-test="prompt"]').text()).toContain('Two?')
    expect(wrapper.find('[data-test="progress"]').text()).toBe('1 / 3 judged')

    // Keys typed into a field are text, not shortcuts.
    const field = document.createElement('input')
    document.body.appendChild(field)
    field.dispatchEvent(new KeyboardEvent('keydown', { key: 'a', bubbles: true }))
    await settle()
    expect(wrapper.find('[data-test="answer-a"]').classes()).not.toContain('chosen')
  })

  it('shows a dataset summary with counts by strength and label and the agreement', async () => {
    const { wrapper } = await mountWithFake(PreferencesView)
    await startTyped(wrapper, 'One?')
    press('a')
    press('1')
    press('s')
    press('Enter')
    await settle()
    expect(wrapper.find('[data-test="all-done"]').exists()).toBe(true)
    await wrapper.find('[data-test="finish"]').trigger('click')
    await settle()
    const summary = wrapper.find('[data-test="dataset-summary"]')
    expect(summary.find('[data-test="count-significantly_better"]').text()).toContain('1')
    expect(summary.find('[data-test="count-only_chosen_safe"]').text()).toContain('1')
    expect(summary.find('[data-test="agreement"]').text()).toContain('50% of 2 annotator pairs chose the same answer')
    expect(wrapper.findAll('[data-test="dataset-row"]').map((r) => r.attributes('data-id'))).toEqual(['prefs-hh', 'session-1'])
  })
})
