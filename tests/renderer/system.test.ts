// The run page's System group (CPU and memory of the run's process, with units) and the run
// list's progress bar and ETA for a running run.
import { afterEach, describe, expect, it } from 'vitest'
import RunDetailView from '../../renderer/src/views/RunDetailView.vue'
import RunsView from '../../renderer/src/views/RunsView.vue'
import { systemChart, systemKeys } from '../../renderer/src/lib/systemMetrics'
import { mountWithFake, settle } from './helpers'

afterEach(() => {
  document.body.innerHTML = ''
})

describe('system metric charts', () => {
  it('orders the known metrics first and titles each with its unit, memory in GB from 1024 MB', () => {
    expect(systemKeys(['train/loss', 'system/zz_extra', 'system/rss_mb', 'system/cpu_percent'])).toEqual(['system/cpu_percent', 'system/rss_mb', 'system/zz_extra'])
    expect(systemChart('system/cpu_percent', [50, 120])).toEqual({ title: 'CPU use (% of one core)', values: [50, 120] })
    expect(systemChart('system/rss_mb', [300, 512])).toEqual({ title: 'Resident memory (MB)', values: [300, 512] })
    expect(systemChart('system/rss_mb', [512, 2048, null])).toEqual({ title: 'Resident memory (GB)', values: [0.5, 2, null] })
    expect(systemChart('system/wasm_heap_mb', [NaN as number, 16])).toEqual({ title: 'Wasm heap (MB)', values: [NaN, 16] })
    expect(systemChart('system/zz_extra', [1])).toEqual({ title: 'system/zz_extra', values: [1] })
    // Older runs logged resident memory from the training loop as sys/memory (MB).
    expect(systemKeys(['sys/memory', 'train/loss'])).toEqual(['sys/memory'])
    expect(systemChart('sys/memory', [2048]).title).toBe('Resident memory (GB)')
  })

  it('shows system/* metrics in their own System group, never as results or among the training charts', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    const t = Date.UTC(2026, 0, 1)
    // A finished evaluation: one result, and system samples that happen to share one step.
    Object.assign(world.runs.find((r) => r.id === 'run-c')!, { status: 'finished', stage: 'gold_eval' })
    world.metrics.set('run-c', [
      { key: 'eval/gold_accuracy', steps: [0], values: [0.5], times: [t] },
      { key: 'system/rss_mb', steps: [0], values: [1536], times: [t] },
      { key: 'system/cpu_percent', steps: [0], values: [97], times: [t] },
    ])
    const { wrapper } = await mountWithFake(RunDetailView, { id: 'run-c' }, world)
    const group = wrapper.find('[data-test="system-charts"]')
    expect(group.exists()).toBe(true)
    const titles = group.findAll('figcaption').map((c) => c.text())
    expect(titles).toEqual(['CPU use (% of one core) (1 points)', 'Resident memory (GB) (1 points)'])
    const results = wrapper.findAll('[data-test="results"] tr[data-result]').map((r) => r.find('th').text())
    expect(results).toEqual(['eval/gold_accuracy'])
  })
})

describe('run list progress', () => {
  it('shows a running run\'s step, ETA and a progress bar', async () => {
    const { wrapper } = await mountWithFake(RunsView)
    const row = wrapper.find('[data-run-id="run-b"]')
    expect(row.find('[data-test="run-progress-text"]').text()).toBe('5/20 · ETA 30s')
    expect(row.find('[data-test="run-progress"] .progress-fill').attributes('style')).toContain('width: 25%')
    expect(wrapper.find('[data-run-id="run-a"] [data-test="run-progress"]').exists()).toBe(false)
  })

  it('reloads a run that starts running elsewhere, so its duration shows', async () => {
    const { createFakeWorld } = await import('../electron/fakeServices')
    const world = createFakeWorld()
    const run = world.runs.find((r) => r.id === 'run-c')!
    Object.assign(run, { status: 'queued', startedAt: undefined })
    const { wrapper } = await mountWithFake(RunsView, {}, world)
    const duration = () => wrapper.find('[data-run-id="run-c"]').findAll('td')[6].text()
    expect(duration()).toBe('—')
    Object.assign(run, { status: 'running', startedAt: Date.now() - 65_000 })
    world.hub.emit('run:update', { id: 'run-c', status: 'running' })
    await new Promise((r) => setTimeout(r, 300)) // the list reloads 250 ms after an update
    await settle()
    expect(duration()).toMatch(/^1m \d+s$/)
  })
})
