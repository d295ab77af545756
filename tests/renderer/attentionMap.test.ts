// A GAtt run's page draws the attention maps of its artifact `gatt_attention`: one heat map
// without GAtt and one with it, and the share of attention each turn pays to the system message.
import { describe, it, expect, afterEach } from 'vitest'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import { createFakeWorld } from '../electron/fakeServices'
import { mountWithFake } from './helpers'

afterEach(() => {
  document.body.innerHTML = ''
})

const map = (shares: number[]) => ({
  tokens: 6,
  systemTokens: 2,
  turnStarts: [2, 4],
  binTokens: 2,
  matrix: [[1, 0, 0], [0.5, 0.25, 0], [0.2, 0, 0.1]],
  systemShareByTurn: shares,
})

describe('gatt run page', () => {
  it('draws a heat map without and with GAtt (a cell per nonzero bin), and the system share by turn', async () => {
    const world = createFakeWorld()
    const meta = { instruction: 'Answer in one sentence.', base: map([0.5, 0.2]), gatt: map([0.6, 0.45]) }
    world.handlers['runs:artifacts'] = async () => [{ kind: 'gatt_attention', path: 'runs/g/attention_map.json', absPath: '/tmp/g/attention_map.json', step: 2, meta }]
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, world)
    const report = wrapper.find('[data-test="attention-map"]')
    expect(report.text()).toContain('Answer in one sentence.')
    for (const key of ['base', 'gatt']) expect(wrapper.find(`[data-test="attention-${key}"]`).findAll('[data-test="attention-cell"]')).toHaveLength(5)
    // The largest value is the darkest cell; the shade is the square root of value / max.
    const shades = wrapper.find('[data-test="attention-base"]').findAll('[data-test="attention-cell"]').map((c) => Number(c.attributes('fill-opacity')))
    expect(shades).toEqual([1, Math.sqrt(0.5), 0.5, Math.sqrt(0.2), Math.sqrt(0.1)])
    expect(wrapper.find('[data-test="system-share-base"]').text()).toBe('without GAtt50.0%20.0%')
    expect(wrapper.find('[data-test="system-share-gatt"]').text()).toBe('with GAtt60.0%45.0%')
  })

  it('shows nothing of the kind for other runs', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' })
    expect(wrapper.find('[data-test="attention-map"]').exists()).toBe(false)
  })
})
