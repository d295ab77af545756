import { describe, it, expect, afterEach, vi } from 'vitest'
import RunsView from '../../renderer/src/views/RunsView.vue'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import { mountWithFake, settle } from './helpers'
import { route } from '../../renderer/src/lib/router'

afterEach(() => {
  document.body.innerHTML = ''
})

describe('Runs screen', () => {
  it('lists every run with an honest status badge', async () => {
    const { wrapper } = await mountWithFake(RunsView)
    const rows = wrapper.findAll('[data-test="run-row"]')
    expect(rows.map((r) => r.attributes('data-run-id'))).toEqual(['run-a', 'run-b', 'run-c'])
    expect(rows[2].find('[data-test="status"]').text()).toBe('interrupted')
    expect(rows[1].text()).toContain('5/20')
  })

  it('filters by status through the API', async () => {
    const { wrapper, world } = await mountWithFake(RunsView)
    await wrapper.find('[data-test="filter-status"]').setValue('finished')
    await settle()
    expect(world.calls.at(-1)).toEqual({ channel: 'runs:list', args: { status: 'finished' } })
    expect(wrapper.findAll('[data-test="run-row"]')).toHaveLength(1)
  })

  it('enables Compare once runs are ticked and opens it with their ids', async () => {
    const { wrapper } = await mountWithFake(RunsView)
    const compare = wrapper.find('[data-test="compare"]')
    expect(compare.attributes('disabled')).toBeDefined()
    const boxes = wrapper.findAll('input[type="checkbox"]')
    await boxes[0].setValue(true)
    await boxes[1].setValue(true)
    expect(compare.text()).toBe('Compare (2)')
    await compare.trigger('click')
    expect(route.name).toBe('compare')
    expect(route.query.ids).toBe('run-a,run-b')
  })

  it('patches a row when a run:update event arrives', async () => {
    const { wrapper, world } = await mountWithFake(RunsView)
    world.hub.emit('run:update', { id: 'run-b', progress: { step: 9, totalSteps: 20 } })
    await settle()
    expect(wrapper.find('[data-run-id="run-b"]').text()).toContain('9/20')
  })

  it('searches config values in the page: lr=1e-3 finds the run with lr 0.001', async () => {
    const { wrapper, world } = await mountWithFake(RunsView)
    const listCalls = world.calls.filter((c) => c.channel === 'runs:list').length
    await wrapper.find('[data-test="filter-text"]').setValue('lr=1e-3')
    await settle()
    expect(wrapper.findAll('[data-test="run-row"]').map((r) => r.attributes('data-run-id'))).toEqual(['run-a'])
    expect(world.calls.filter((c) => c.channel === 'runs:list')).toHaveLength(listCalls)
    await wrapper.find('[data-test="filter-text"]').setValue('lr=5')
    expect(wrapper.find('[data-test="no-search-match"]').text()).toContain('lr=5')
  })

  it('adds a config column, sorts by it and remembers it', async () => {
    localStorage.clear()
    const { wrapper } = await mountWithFake(RunsView)
    await wrapper.find('[data-test="columns-toggle"]').trigger('click')
    await wrapper.find('[data-test="add-config-column"]').setValue('lr')
    await settle()
    const cells = () => wrapper.findAll('td[data-column="config:lr"]').map((c) => c.text())
    expect(cells()).toEqual(['0.001', '0.003', '1.00e-4'])
    await wrapper.find('[data-test="sort-config:lr"]').trigger('click')
    expect(cells()).toEqual(['1.00e-4', '0.001', '0.003'])
    expect(JSON.parse(localStorage.getItem('workbench.runs.columns')!)).toEqual(['metric:train/loss', 'metric:eval/loss', 'config:lr'])
    await wrapper.find('[data-column="config:lr"] [data-test="remove-column"]').trigger('click')
    expect(wrapper.findAll('td[data-column="config:lr"]')).toHaveLength(0)
  })

  it('shows a readable error instead of a blank table when the API fails', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    world.handlers['runs:list'] = async () => {
      throw new Error('database is locked')
    }
    const { wrapper } = await mountWithFake(RunsView, {}, world)
    expect(wrapper.find('[data-test="error"]').text()).toContain('database is locked')
  })
})

describe('Run detail screen', () => {
  it('shows charts with the stored points and appends live ones', async () => {
    const { wrapper, world } = await mountWithFake(RunDetailView, { id: 'run-b' })
    const loss = wrapper.find('[data-metric="train/loss"]')
    // 5 stored points (the smoothed line is derived from them and not counted)
    expect(loss.attributes('data-points')).toBe('5')
    world.hub.emit('run:metrics', { id: 'run-b', step: 6, values: { 'train/loss': 2.9, 'train/lr': 0.001 }, time: Date.now() })
    world.hub.emit('run:metrics', { id: 'other', step: 6, values: { 'train/loss': 99 }, time: Date.now() })
    // The charts redraw a few times a second (lib/liveSeries.ts), not per event.
    await vi.waitFor(() => expect(wrapper.find('[data-metric="train/loss"]').attributes('data-points')).toBe('6'))
    expect(wrapper.find('[data-metric="train/lr"]').attributes('data-points')).toBe('1')
  })

  it('shows progress with ETA and cancels a running run', async () => {
    const { wrapper, world } = await mountWithFake(RunDetailView, { id: 'run-b' })
    expect(wrapper.find('[data-test="progress"]').text()).toContain('step 5 / 20 (25%)')
    expect(wrapper.find('[data-test="progress"]').text()).toContain('ETA 30s')
    await wrapper.find('[data-test="cancel"]').trigger('click')
    await settle()
    expect(world.calls.some((c) => c.channel === 'runs:cancel')).toBe(true)
    expect(wrapper.find('[data-test="status"]').text()).toBe('stopped')
    expect(wrapper.find('[data-test="resume"]').exists()).toBe(true)
  })

  it('lists events, artifacts and clickable lineage', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-c' })
    await wrapper.find('[data-test="tab-events"]').trigger('click')
    expect(wrapper.find('[data-test="events"]').text()).toContain('loss spike')
    await wrapper.find('[data-test="tab-artifacts"]').trigger('click')
    expect(wrapper.find('[data-test="artifacts"]').text()).toContain('2.0 KB')
    await wrapper.find('[data-test="tab-lineage"]').trigger('click')
    const link = wrapper.find('[data-test="lineage"] a')
    expect(link.text()).toBe('tiny-a')
    expect(link.attributes('href')).toBe('#/runs/run-a')
  })

  it('says so when the run does not exist', async () => {
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'nope' })
    expect(wrapper.find('[data-test="error"]').text()).toContain('no run with id "nope"')
  })
})

describe('Run detail: resume', () => {
  it('does not offer Resume on a run that failed its config check, and says what to do instead', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    Object.assign(world.runs.find((r) => r.id === 'run-c')!, { status: 'failed', error: 'invalid sft config:\n  - n_heads: n_heads 4 is not divisible by n_kv_heads 3' })
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-c' }, world)
    expect(wrapper.find('[data-test="run-error"]').text()).toContain('not divisible')
    expect(wrapper.find('[data-test="resume"]').exists()).toBe(false)
    expect(wrapper.find('[data-test="config-failed"]').text()).toContain('start a new run')
  })

  it('still offers Resume on a run that failed for another reason', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    Object.assign(world.runs.find((r) => r.id === 'run-c')!, { status: 'failed', error: 'out of memory' })
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-c' }, world)
    expect(wrapper.find('[data-test="resume"]').exists()).toBe(true)
    expect(wrapper.find('[data-test="config-failed"]').exists()).toBe(false)
  })
})

describe('Run detail: artifact actions', () => {
  it('offers chat, fine-tune, evaluate and export on a checkpoint, and exports through the API', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    world.handlers['runs:artifacts'] = async () => [{ kind: 'checkpoint', path: 'runs/run-a/ckpt', absPath: '/tmp/home/runs/run-a/ckpt', bytes: 2048, step: 20, meta: {} }]
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, world)
    await wrapper.find('[data-test="tab-artifacts"]').trigger('click')
    expect(wrapper.find('[data-test="artifact-chat"]').attributes('href')).toBe('#/chat?checkpoint=%2Ftmp%2Fhome%2Fruns%2Frun-a%2Fckpt')
    expect(wrapper.find('[data-test="artifact-finetune"]').attributes('href')).toBe('#/new?stage=sft&base=%2Ftmp%2Fhome%2Fruns%2Frun-a%2Fckpt')
    expect(wrapper.find('[data-test="artifact-evaluate"]').attributes('href')).toContain('stage=gold_eval&model=')
    await wrapper.find('[data-test="artifact-export"]').trigger('click')
    await settle()
    expect(world.calls.find((c) => c.channel === 'models:export')?.args).toEqual({ checkpoint: '/tmp/home/runs/run-a/ckpt', format: 'gguf', dtype: 'f32' })
    expect(wrapper.find('[data-test="export-note"]').text()).toContain('/tmp/home/exports/ckpt-f32.gguf')
  })
})

describe('Run detail: evaluation results', () => {
  it('shows metrics logged once by a finished run as a grouped results table, not as one-point charts', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    const once = (key: string, value: number) => ({ key, steps: [0], values: [value], times: [Date.UTC(2026, 0, 1)] })
    Object.assign(world.runs.find((r) => r.id === 'run-c')!, { status: 'finished', stage: 'gold_eval' })
    world.metrics.set('run-c', [once('eval/gold_accuracy', 0.5), once('eval/gold_accuracy_math', 0.75), once('eval/violation_rate', 0.2), once('eval/violation_rate_violence', 0.4)])
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-c' }, world)
    expect(wrapper.findAll('[data-test="chart"]')).toHaveLength(0)
    expect(wrapper.find('[data-test="smoothing"]').exists()).toBe(false)
    const rows = wrapper.findAll('[data-test="results"] tr[data-result]').map((r) => r.findAll('th, td').slice(0, 2).map((c) => c.text()))
    expect(rows).toEqual([
      ['eval/gold_accuracy', '0.5'],
      ['math', '0.75'],
      ['eval/violation_rate', '0.2'],
      ['violence', '0.4'],
    ])
  })
})

describe('Run detail: evaluation samples', () => {
  it('filters samples by a yes/no score such as right or wrong', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    const sample = (prompt: string, correct: number) => ({ step: 0, prompt, response: 'r', scores: { gold_correct: correct, gold_helpfulness: 0.37 }, time: 0 })
    world.handlers['runs:samples'] = async () => [sample('right one', 1), sample('wrong one', 0), sample('wrong two', 0)]
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, world)
    await wrapper.find('[data-test="tab-samples"]').trigger('click')
    const options = wrapper.findAll('[data-test="sample-filter"] option').map((o) => o.text())
    expect(options).toEqual(['all 3', 'gold_correct: yes', 'gold_correct: no'])
    await wrapper.find('[data-test="sample-filter"]').setValue('gold_correct=0')
    expect(wrapper.findAll('[data-test="sample"] .prompt').map((p) => p.text())).toEqual(['wrong one', 'wrong two'])
  })
})

describe('Run detail: notes, tags, delete', () => {
  it('shows a note set elsewhere (the CLI) and saves edits and tags through the API', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    world.runs.find((r) => r.id === 'run-a')!.notes = 'from the terminal'
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-a' }, world)
    expect((wrapper.find('[data-test="notes"]').element as HTMLTextAreaElement).value).toBe('from the terminal')
    expect(wrapper.findAll('[data-test="tag"]').map((t) => t.text())).toEqual(['baseline ×'])
    await wrapper.find('[data-test="notes"]').setValue('lr too high?')
    await wrapper.find('[data-test="save-notes"]').trigger('click')
    await settle()
    await wrapper.find('[data-test="new-tag"]').setValue('sweep=lr')
    await wrapper.find('[data-test="new-tag"]').trigger('submit')
    await settle()
    expect(world.runs.find((r) => r.id === 'run-a')).toMatchObject({ notes: 'lr too high?', tags: ['baseline', 'sweep=lr'] })
    expect(wrapper.findAll('[data-test="tag"]').map((t) => t.text())).toEqual(['baseline ×', 'sweep=lr ×'])
  })

  it('offers the force option when the run has children, and deletes only after it is confirmed', async () => {
    const { wrapper, world } = await mountWithFake(RunDetailView, { id: 'run-a' })
    const answers = [true, true]
    const asked: string[] = []
    window.confirm = (message?: string) => {
      asked.push(message ?? '')
      return answers.shift() ?? false
    }
    await wrapper.find('[data-test="delete"]').trigger('click')
    await settle()
    expect(asked[1]).toContain('descending from it')
    expect(world.calls.filter((c) => c.channel === 'runs:delete').map((c) => c.args)).toEqual([{ id: 'run-a', force: false }, { id: 'run-a', force: true }])
    expect(world.runs.some((r) => r.id === 'run-a')).toBe(false)
  })
})

describe('Runs screen: sorting', () => {
  it('sorts by a column when its header is clicked, flips on a second click, runs without the value last', async () => {
    const { wrapper } = await mountWithFake(RunsView)
    const order = () => wrapper.findAll('[data-test="run-row"]').map((r) => r.attributes('data-run-id'))
    await wrapper.find('[data-test="sort-metric:train/loss"]').trigger('click')
    expect(order()).toEqual(['run-a', 'run-b', 'run-c']) // 2.5, 3.1, none
    await wrapper.find('[data-test="sort-metric:train/loss"]').trigger('click')
    expect(order()).toEqual(['run-b', 'run-a', 'run-c'])
    await wrapper.find('[data-test="sort-name"]').trigger('click')
    expect(order()).toEqual(['run-c', 'run-a', 'run-b']) // sft-c, tiny-a, tiny-b
  })
})
