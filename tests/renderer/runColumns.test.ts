import { describe, it, expect } from 'vitest'
import { availableColumns, columnValue, COLUMNS_STORAGE_KEY, DEFAULT_COLUMNS, describeColumns, formatCell, loadColumns, parseColumn, saveColumns } from '../../renderer/src/lib/runColumns'
import { sortRuns } from '../../renderer/src/lib/sortRuns'
import type { RunSummary } from '../../electron/shared/api'

function run(id: string, config: Record<string, unknown>, latest: Record<string, number | null>): RunSummary {
  return { id, name: id, experiment: 'e', stage: 'pretrain', status: 'finished', tags: [], createdAt: 0, parentIds: [], latest, config }
}

const RUNS = [
  run('a', { lr: 0.0003, model: { n_layers: 4 }, data: ['x.txt', 'y.txt'], schedule: 'cosine' }, { 'eval/loss': 3.165, 'train/loss': 3 }),
  run('b', { lr: 0.001, model: { n_layers: 2 }, schedule: 'linear' }, { 'eval/loss': null }),
  run('c', { lr: 0.0001 }, { 'eval/loss': 2.5, 'gold/accuracy': 0.4 }),
]

class MemoryStorage {
  items = new Map<string, string>()
  getItem(k: string) {
    return this.items.get(k) ?? null
  }
  setItem(k: string, v: string) {
    this.items.set(k, v)
  }
}

describe('run columns', () => {
  it('reads a nested config value or a final metric by column id', () => {
    expect(parseColumn('config:model.n_layers')).toEqual({ kind: 'config', key: 'model.n_layers' })
    expect(parseColumn('metric:eval/loss')).toEqual({ kind: 'metric', key: 'eval/loss' })
    expect(parseColumn('name')).toBeNull()
    expect(columnValue(RUNS[0], 'config:model.n_layers')).toBe(4)
    expect(columnValue(RUNS[2], 'config:model.n_layers')).toBeUndefined()
    expect(columnValue(RUNS[0], 'metric:eval/loss')).toBe(3.165)
    expect(columnValue(RUNS[1], 'metric:eval/loss')).toBeNull()
    expect(columnValue(RUNS[1], 'metric:gold/accuracy')).toBeUndefined()
  })

  it('formats cells: numbers, lists, and a dash for nothing', () => {
    expect(formatCell(0.0003)).toBe('3.00e-4')
    expect(formatCell(['x.txt', 'y.txt'])).toBe('x.txt, y.txt')
    expect(formatCell(undefined)).toBe('—')
    expect(formatCell(null)).toBe('—')
    expect(formatCell(true)).toBe('true')
  })

  it('offers every config path and metric not shown yet, and describes the chosen ones', () => {
    const offer = availableColumns(RUNS, ['config:lr', 'metric:eval/loss'])
    expect(offer.config).toEqual(['data', 'model.n_layers', 'schedule'])
    expect(offer.metrics).toEqual(['gold/accuracy', 'train/loss'])
    expect(describeColumns(['config:schedule', 'config:lr', 'metric:x', 'bogus'], RUNS)).toEqual([
      { id: 'config:schedule', kind: 'config', key: 'schedule', numeric: false },
      { id: 'config:lr', kind: 'config', key: 'lr', numeric: true },
      { id: 'metric:x', kind: 'metric', key: 'x', numeric: true },
    ])
  })

  it('remembers the choice, and falls back to the defaults on nothing or garbage', () => {
    const storage = new MemoryStorage()
    expect(loadColumns(storage)).toEqual(DEFAULT_COLUMNS)
    saveColumns(storage, ['config:model.n_layers', 'metric:eval/loss'])
    expect(loadColumns(storage)).toEqual(['config:model.n_layers', 'metric:eval/loss'])
    storage.setItem(COLUMNS_STORAGE_KEY, '{not json')
    expect(loadColumns(storage)).toEqual(DEFAULT_COLUMNS)
    storage.setItem(COLUMNS_STORAGE_KEY, JSON.stringify(['config:lr', 42, 'nonsense']))
    expect(loadColumns(storage)).toEqual(['config:lr'])
    expect(loadColumns(undefined)).toEqual(DEFAULT_COLUMNS)
  })

  it('sorts by a config column, runs without the key last either way', () => {
    const order = (column: string, descending: boolean) => sortRuns(RUNS, { column, descending }).map((r) => r.id)
    expect(order('config:lr', false)).toEqual(['c', 'a', 'b'])
    expect(order('config:lr', true)).toEqual(['b', 'a', 'c'])
    expect(order('config:model.n_layers', false)).toEqual(['b', 'a', 'c'])
    expect(order('config:model.n_layers', true)).toEqual(['a', 'b', 'c'])
    expect(order('config:schedule', false)).toEqual(['a', 'b', 'c'])
    expect(order('metric:eval/loss', false)).toEqual(['c', 'a', 'b'])
  })
})
