import { describe, it, expect, afterEach } from 'vitest'
import { mount } from '@vue/test-utils'
import DatasetsView from '../../renderer/src/views/DatasetsView.vue'
import ConfigFieldInput from '../../renderer/src/components/ConfigFieldInput.vue'
import { installUploader } from '../../renderer/src/api'
import { datasetsFor, formatLabel, optionLabel } from '../../renderer/src/lib/datasets'
import type { ConfigField, DatasetInfo } from '../../electron/shared/api'
import { mountWithFake, settle } from './helpers'
import { createFakeWorld } from '../electron/fakeServices'
import { route } from '../../renderer/src/lib/router'

afterEach(() => {
  document.body.innerHTML = ''
  installUploader(null)
})

const TEXT: DatasetInfo = { path: '/h/datasets/a.txt', name: 'a.txt', bytes: 10, format: 'text', readableAs: ['text'] }
const SFT: DatasetInfo = { path: '/h/datasets/chat.jsonl', name: 'chat.jsonl', bytes: 20, format: 'sft', readableAs: ['sft', 'prompts'], variant: 'prompt_response' }
const PAIRS: DatasetInfo = { path: '/h/demo/p.jsonl', name: 'p.jsonl', bytes: 30, format: 'preferences', readableAs: ['preferences', 'prompts'] }

describe('datasetsFor', () => {
  it('offers only the files a field can read, by its declared format', () => {
    const field = (dataFormat?: ConfigField['dataFormat']): ConfigField => ({ key: 'data', type: 'string[]', help: '', group: 'data', dataFormat })
    expect(datasetsFor(field('sft'), [TEXT, SFT, PAIRS]).map((d) => d.name)).toEqual(['chat.jsonl'])
    expect(datasetsFor(field('prompts'), [TEXT, SFT, PAIRS]).map((d) => d.name)).toEqual(['chat.jsonl', 'p.jsonl'])
    expect(datasetsFor(field('text'), [TEXT, SFT, PAIRS]).map((d) => d.name)).toEqual(['a.txt'])
    expect(datasetsFor(field(undefined), [TEXT, SFT]).length).toBe(2)
    expect(formatLabel(SFT)).toBe('SFT conversations (prompt_response)')
    expect(formatLabel({ format: null })).toBe('unknown format')
    const twin = { ...SFT, path: '/h/demo/tiny-seed1/chat.jsonl' }
    expect(optionLabel(SFT, [SFT, TEXT])).toBe('chat.jsonl')
    expect(optionLabel(twin, [SFT, twin])).toBe('chat.jsonl · /h/demo/tiny-seed1')
  })
})

describe('a data field', () => {
  it('lists only SFT files for SFT data and fills the field with an uploaded file', async () => {
    const uploads: string[] = []
    installUploader({
      upload: async (file, onProgress) => {
        uploads.push(file.name)
        onProgress?.(5, 10)
        return { ...SFT, name: 'mine-1.jsonl', path: '/h/datasets/mine-1.jsonl' }
      },
    })
    const field: ConfigField = { key: 'data', type: 'string[]', help: 'SFT files', group: 'data', dataFormat: 'sft', required: true }
    const added: unknown[] = []
    const wrapper = mount(ConfigFieldInput, {
      props: { field, modelValue: '', datasets: [TEXT, SFT, PAIRS], onAdded: (key: string, d: DatasetInfo) => added.push([key, d.name]) },
      attachTo: document.body,
    })
    const options = wrapper.findAll('[data-test="add-dataset-data"] option').map((o) => o.text())
    expect(options).toEqual(['add a file (SFT conversations)…', 'chat.jsonl'])
    const input = wrapper.find('[data-test="upload-input-data"]')
    const file = new File(['{"prompt":"a","response":"b"}\n'], 'mine.jsonl')
    Object.defineProperty(input.element, 'files', { value: [file] })
    await input.trigger('change')
    await settle()
    expect(uploads).toEqual(['mine.jsonl'])
    expect(added).toEqual([['data', 'mine-1.jsonl']])
    expect(wrapper.find('[data-test="upload-progress-data"]').text()).toContain('saved as mine-1.jsonl (the name was taken)')
  })

  it('shows the upload error the server gave', async () => {
    installUploader({ upload: async () => { throw new Error('tool.exe: not a data file; upload .txt, .jsonl') } })
    const field: ConfigField = { key: 'data', type: 'path', help: '', group: 'data' }
    const wrapper = mount(ConfigFieldInput, { props: { field, modelValue: '', datasets: [] }, attachTo: document.body })
    const input = wrapper.find('[data-test="upload-input-data"]')
    Object.defineProperty(input.element, 'files', { value: [new File(['MZ'], 'tool.exe')] })
    await input.trigger('change')
    await settle()
    expect(wrapper.find('[data-test="upload-error"]').text()).toContain('not a data file')
  })
})

describe('Datasets screen', () => {
  it('lists files with format, counts and errors, and shows the chat template with the trained tokens', async () => {
    installUploader(null)
    const { wrapper } = await mountWithFake(DatasetsView, { file: '/tmp/home/datasets/chat.jsonl' })
    await settle()
    const rows = wrapper.findAll('[data-test="dataset-row"]')
    expect(rows.map((r) => r.attributes('data-name'))).toEqual(['tiny.txt', 'chat.jsonl'])
    expect(rows[1].find('[data-test="dataset-format"]').text()).toBe('SFT conversations (messages)')
    expect(rows[1].text()).toContain('1 / 2')
    expect(wrapper.find('[data-test="detail-errors"]').text()).toContain('chat.jsonl:2: field "messages": has no assistant turn')
    const trained = wrapper.findAll('[data-test="chat-template"] [data-trained="yes"]').map((s) => s.text())
    expect(trained).toEqual(['Hello', '<|end|>'])
    // Desktop (no uploader): the native dialog instead of an upload.
    expect(wrapper.find('[data-test="browse-datasets"]').exists()).toBe(true)
  })

  it('reads big files only once they are selected', async () => {
    const world = createFakeWorld()
    const big: DatasetInfo = { path: '/tmp/home/datasets/big.jsonl', name: 'big.jsonl', bytes: 500 * 1024 ** 2, format: 'sft', readableAs: ['sft'] }
    world.handlers['datasets:list'] = async () => [TEXT, big]
    const { wrapper } = await mountWithFake(DatasetsView, {}, world)
    await settle()
    const inspected = () => world.calls.filter((c) => c.channel === 'datasets:inspect').map((c) => (c.args as { path: string }).path)
    expect(inspected()).toEqual([TEXT.path])
    expect(wrapper.findAll('[data-test="dataset-row"]')[1].text()).toContain('select to read')
    await wrapper.findAll('[data-test="dataset-row"]')[1].trigger('click')
    expect(route.query.file).toBe(big.path)
    await wrapper.setProps({ file: route.query.file }) // what App.vue passes from the route
    await settle()
    expect(inspected()).toEqual([TEXT.path, big.path])
  })

  it('keeps a file uploaded while the first listing was still on its way', async () => {
    const world = createFakeWorld()
    let answerList!: (list: DatasetInfo[]) => void
    world.handlers['datasets:list'] = () => new Promise<DatasetInfo[]>((resolve) => (answerList = resolve))
    const mine = { ...SFT, name: 'mine.jsonl', path: '/h/datasets/mine.jsonl' }
    installUploader({ upload: async () => mine })
    const { wrapper } = await mountWithFake(DatasetsView, {}, world)
    const input = wrapper.find('[data-test="upload-input-datasets"]')
    Object.defineProperty(input.element, 'files', { value: [new File(['{}'], 'mine.jsonl')] })
    await input.trigger('change')
    await settle()
    answerList([TEXT]) // listed before the upload was saved
    await settle()
    expect(wrapper.findAll('[data-test="dataset-row"]').map((r) => r.attributes('data-name'))).toEqual(['a.txt', 'mine.jsonl'])
  })
})
