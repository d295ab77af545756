// The Safety screen against the fake services: rate a run's answers from the keyboard (each
// rating sent at once, the next answer shown), and show a comparison report in a sandboxed frame.
import { describe, it, expect, afterEach } from 'vitest'
import SafetyView from '../../renderer/src/views/SafetyView.vue'
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

describe('Safety screen', () => {
  it('rates answers one at a time with the keys 1-5, saving each at once', async () => {
    const { wrapper, world } = await mountWithFake(SafetyView)
    expect(wrapper.findAll('[data-test="safety-run-row"]')).toHaveLength(2)
    expect(wrapper.findAll('[data-test="rate-run"]')).toHaveLength(1) // only the finished run has answers
    await wrapper.find('[data-test="rate-run"]').trigger('click')
    await settle()
    expect(wrapper.find('[data-test="rate"]').exists()).toBe(false) // no annotator yet
    expect(wrapper.text()).toContain('type your name as the annotator first')

    await wrapper.find('[data-test="safety-annotator"]').setValue('ana')
    await wrapper.find('[data-test="rate-run"]').trigger('click')
    await settle()
    expect(wrapper.find('[data-test="rate-answer"]').text()).toContain('answer 0')
    press('2')
    await settle()
    expect(world.safety.ratings).toEqual([{ id: 'safety-sft', itemId: 'adv-0', annotator: 'ana', rating: 2 }])
    expect(wrapper.find('[data-test="rate-progress"]').text()).toBe('1 / 3 rated')
    expect(wrapper.find('[data-test="rate-prompt"]').text()).toContain('A baker.') // the multi-turn item shows its turns
    press('9') // not on the scale: nothing happens
    press('5')
    await settle()
    await wrapper.find('[data-test="rate-4"]').trigger('click')
    await settle()
    expect(world.safety.ratings.map((r) => [r.itemId, r.rating])).toEqual([['adv-0', 2], ['adv-1', 5], ['adv-2', 4]])
    expect(wrapper.find('[data-test="rate-all-done"]').exists()).toBe(true)
    expect(localStorage.getItem('workbench-annotator')).toBe('ana')
  })

  it('shows the report of the ticked runs in a sandboxed frame', async () => {
    const { wrapper, world } = await mountWithFake(SafetyView)
    expect(wrapper.find('[data-test="show-report"]').attributes('disabled')).toBeDefined()
    await wrapper.find('[data-test="safety-run-row"] input[type="checkbox"]').setValue(true)
    await wrapper.find('[data-test="show-report"]').trigger('click')
    await settle()
    expect(world.calls.filter((c) => c.channel === 'safety:report').map((c) => c.args)).toEqual([{ ids: ['safety-sft'] }])
    const frame = wrapper.find('[data-test="safety-report"]')
    expect(frame.attributes('sandbox')).toBe('')
    expect(frame.attributes('srcdoc')).toContain('report of safety-sft')
    expect(wrapper.find('[data-test="download-csv"]').attributes('disabled')).toBeUndefined()
  })
})
