import { describe, it, expect, afterEach } from 'vitest'
import NewRunView from '../../renderer/src/views/NewRunView.vue'
import CompareView from '../../renderer/src/views/CompareView.vue'
import ChatView from '../../renderer/src/views/ChatView.vue'
import { mountWithFake, settle } from './helpers'
import { route } from '../../renderer/src/lib/router'
import { emaSmooth } from '../../renderer/src/lib/smoothing'
import { fieldErrorsFromMessage } from '../../renderer/src/lib/configForm'
import { FAKE_STAGE } from '../electron/fakeServices'

afterEach(() => {
  document.body.innerHTML = ''
})

describe('New run form', () => {
  it('is generated from the stage fields, grouped, with defaults filled in', async () => {
    const { wrapper } = await mountWithFake(NewRunView)
    const legends = wrapper.findAll('legend').map((l) => l.text())
    expect(legends).toEqual(['data', 'model', 'optimiser'])
    expect((wrapper.find('#f-dim').element as HTMLInputElement).value).toBe('64')
    expect((wrapper.find('#f-schedule').element as HTMLSelectElement).value).toBe('cosine')
  })

  it('shows a message next to each invalid field and blocks submit', async () => {
    const { wrapper, world } = await mountWithFake(NewRunView)
    expect(wrapper.find('[data-test="error-data"]').text()).toBe('is required')
    await wrapper.find('#f-dim').setValue('abc')
    await wrapper.find('#f-lr').setValue('2')
    expect(wrapper.find('[data-test="error-dim"]').text()).toContain('expected a number')
    expect(wrapper.find('[data-test="error-lr"]').text()).toBe('must be <= 1, got 2')
    expect(wrapper.find('[data-test="start"]').attributes('disabled')).toBeDefined()
    await wrapper.find('form').trigger('submit')
    await settle()
    expect(world.calls.some((c) => c.channel === 'runs:create')).toBe(false)
  })

  it('applies a preset, previews the model size and starts the run', async () => {
    const { wrapper, world } = await mountWithFake(NewRunView)
    await wrapper.find('[data-test="preset-tiny"]').trigger('click')
    expect((wrapper.find('#f-dim').element as HTMLInputElement).value).toBe('32')
    await wrapper.find('#f-data').setValue('/tmp/home/datasets/tiny.txt')
    await wrapper.find('[data-test="name"]').setValue('my run')
    await new Promise((r) => setTimeout(r, 350)) // the preview waits for typing to stop
    await settle()
    expect(wrapper.find('[data-test="estimate-params"]').text()).toBe('12.3k')
    await wrapper.find('form').trigger('submit')
    await settle()
    const create = world.calls.find((c) => c.channel === 'runs:create')
    expect(create?.args).toMatchObject({
      stage: 'pretrain',
      name: 'my run',
      config: { data: '/tmp/home/datasets/tiny.txt', dim: 32, n_layers: 2, lr: 0.001, schedule: 'cosine', tie_embeddings: false },
    })
    expect(route.name).toBe('run')
  })

  it('previews a fine-tuning on the picked checkpoint, and the memory follows full vs LoRA as they are chosen', async () => {
    const { wrapper, world } = await mountWithFake(NewRunView)
    await wrapper.find('[data-test="stage"]').setValue('sft')
    const waitForPreview = async () => {
      await new Promise((r) => setTimeout(r, 350)) // the preview waits for typing to stop
      await settle()
    }
    await waitForPreview()
    expect(wrapper.find('[data-test="estimate"]').text()).toContain('pick the base checkpoint')
    // Not asked of the server, whose refusal would show as a failed request in the console.
    expect(world.calls.filter((c) => c.channel === 'model:estimate' && (c.args as { stage: string }).stage === 'sft')).toHaveLength(0)
    await wrapper.find('[data-test="parent-base"]').setValue('/tmp/home/runs/run-a/ckpt')
    await waitForPreview()
    const full = wrapper.find('[data-test="estimate-total"]').text()
    expect(wrapper.find('[data-test="estimate-params"]').text()).toBe('10.0k')
    expect(wrapper.find('[data-test="estimate-trained"]').exists()).toBe(false)
    await wrapper.find('#f-finetuning').setValue('lora')
    await waitForPreview()
    expect(wrapper.find('[data-test="estimate-trained"]').text()).toContain('800')
    expect(wrapper.find('[data-test="estimate-total"]').text()).not.toBe(full)
    const asked = world.calls.filter((c) => c.channel === 'model:estimate').at(-1)
    expect(asked?.args).toMatchObject({ stage: 'sft', config: { finetuning: 'lora' }, parents: { base: '/tmp/home/runs/run-a/ckpt' } })
  })

  it('maps a server-side config error back onto its field', () => {
    const message = 'invalid config:\n  - dim: must be divisible by n_heads\n  - other: x'
    expect(fieldErrorsFromMessage(message, FAKE_STAGE.fields)).toEqual({ dim: 'must be divisible by n_heads' })
  })
})

describe('Compare screen', () => {
  it('lists differing config keys and final/best metrics, best highlighted', async () => {
    const { wrapper } = await mountWithFake(CompareView, { ids: ['run-a', 'run-b'] })
    expect(wrapper.find('[data-test="config-diff"]').text()).toContain('lr')
    expect(wrapper.find('[data-test="config-diff"]').text()).toContain('0.003')
    const best = wrapper.find('[data-test="compare-metrics"] td.best')
    expect(best.text()).toContain('2.5')
    expect(wrapper.find('[data-test="compare-chart"][data-metric="train/loss"]').attributes('data-points')).toBe('25')
  })

  it('charts every chosen metric in a grid, and a parallel-coordinates view of the differing config', async () => {
    const { wrapper } = await mountWithFake(CompareView, { ids: ['run-a', 'run-b'] })
    const charted = () => wrapper.findAll('[data-test="compare-chart"]').map((c) => c.attributes('data-metric'))
    expect(charted()).toEqual(['train/loss', 'eval/loss'])
    expect(wrapper.find('[data-test="compare-chart"][data-metric="eval/loss"]').attributes('data-points')).toBe('4')
    await wrapper.find('[data-test="compare-metric"][data-metric="eval/loss"]').setValue(false)
    expect(charted()).toEqual(['train/loss'])
    await wrapper.find('[data-test="compare-all-metrics"]').trigger('click')
    expect(charted()).toEqual(['eval/loss', 'train/loss'])
    // Both fake runs have batch_size and seq_len: both can be drawn against tokens.
    await wrapper.find('[data-test="compare-x-axis"]').setValue('tokens')
    expect(wrapper.find('[data-test="compare-x-missing"]').exists()).toBe(false)
    const axes = wrapper.findAll('[data-test="pc-axis"]').map((a) => `${a.attributes('data-key')}:${a.attributes('data-kind')}`)
    expect(axes).toEqual(['lr:numeric', 'train/loss:numeric'])
    expect(wrapper.findAll('[data-test="pc-line"]').map((l) => l.attributes('data-run-id'))).toEqual(['run-a', 'run-b'])
    expect(wrapper.find('[data-test="pc-legend"]').text()).toContain('train/loss')
    await wrapper.find('[data-test="pc-key"][data-key="lr"]').setValue(false)
    expect(wrapper.findAll('[data-test="pc-axis"]')).toHaveLength(1)
  })

  it('says which runs cannot be drawn against tokens', async () => {
    const { wrapper } = await mountWithFake(CompareView, { ids: ['run-a', 'run-c'] })
    await wrapper.find('[data-test="compare-x-axis"]').setValue('tokens')
    expect(wrapper.find('[data-test="compare-x-missing"]').text()).toContain('sft-c')
  })

  it('explains how to pick runs when none are chosen, without an error banner', async () => {
    const { wrapper, world } = await mountWithFake(CompareView, { ids: [] })
    expect(wrapper.find('[data-test="error"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="compare-empty"]').text()).toContain('Tick the box in front of each run')
    expect(world.calls.filter((c) => c.channel === 'runs:compare')).toHaveLength(0)
  })
})

describe('Chat playground', () => {
  it('streams the reply and keeps the conversation', async () => {
    const { wrapper, world } = await mountWithFake(ChatView)
    await wrapper.find('[data-test="system"]').setValue('Be brief.')
    await wrapper.find('[data-test="prompt"]').setValue('Hi there')
    await wrapper.find('form.chat-input').trigger('submit')
    await settle()
    const messages = wrapper.findAll('[data-test="message"]')
    expect(messages).toHaveLength(2)
    expect(messages[1].text()).toContain('Hello from the fake model (1 msgs)')
    const call = world.calls.find((c) => c.channel === 'chat:generate')
    expect(call?.args).toMatchObject({ checkpoint: '/tmp/home/runs/run-a/ckpt', system: 'Be brief.', messages: [{ role: 'user', content: 'Hi there' }] })
  })

  it('asks two models in side-by-side mode', async () => {
    const { wrapper, world } = await mountWithFake(ChatView)
    await wrapper.find('[data-test="side-by-side"]').setValue(true)
    await wrapper.find('[data-test="prompt"]').setValue('Hello')
    await wrapper.find('form.chat-input').trigger('submit')
    await settle()
    expect(world.calls.filter((c) => c.channel === 'chat:generate')).toHaveLength(2)
    expect(wrapper.find('[data-test="pane-1"]').findAll('[data-test="message"]')).toHaveLength(2)
  })
})

describe('EMA smoothing', () => {
  it('matches TensorBoard: debiased, gaps kept', () => {
    expect(emaSmooth([1, 1, 1], 0.9)).toEqual([1, 1, 1].map(() => expect.closeTo(1, 10)))
    const s = emaSmooth([0, 10, null, 10], 0.5)
    expect(s[0]).toBeCloseTo(0)
    expect(s[1]).toBeCloseTo((0.5 * 0.5 * 0 + 0.5 * 10) / 0.75)
    expect(s[2]).toBeNull()
    expect(emaSmooth([3, 4], 0)).toEqual([3, 4])
  })
})

describe('New run form: the whole config', () => {
  it('disables Start while a cross-field rule fails, with the message on the field, and enables it once fixed', async () => {
    const { wrapper, world } = await mountWithFake(NewRunView)
    await wrapper.find('#f-data').setValue('/tmp/home/datasets/tiny.txt')
    await wrapper.find('#f-n_heads').setValue('4')
    await wrapper.find('#f-n_kv_heads').setValue('3')
    await new Promise((r) => setTimeout(r, 350)) // the check waits for typing to stop
    await settle()
    expect(wrapper.find('[data-test="error-n_heads"]').text()).toBe('n_heads 4 is not divisible by n_kv_heads 3')
    expect(wrapper.find('[data-test="start"]').attributes('disabled')).toBeDefined()
    await wrapper.find('form').trigger('submit')
    await settle()
    expect(world.calls.some((c) => c.channel === 'runs:create')).toBe(false)

    await wrapper.find('#f-n_kv_heads').setValue('2')
    await new Promise((r) => setTimeout(r, 350))
    await settle()
    expect(wrapper.find('[data-test="error-n_heads"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="start"]').attributes('disabled')).toBeUndefined()
  })
})
