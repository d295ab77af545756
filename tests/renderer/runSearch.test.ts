import { describe, it, expect } from 'vitest'
import { parseSearch, searchRuns, sameNumber } from '../../renderer/src/lib/runSearch'
import type { SearchRun } from '../../renderer/src/lib/runSearch'
import { flattenConfig, configValue, configPaths } from '../../renderer/src/lib/configPaths'

function run(id: string, config: Record<string, unknown>, extra: Partial<SearchRun> = {}): SearchRun {
  return { id, name: id, stage: 'pretrain', status: 'finished', experiment: 'sweep', tags: [], latest: {}, config, ...extra }
}

const RUNS = [
  run('a', { lr: 0.0003, n_layers: 4, dim: 48, data: ['/home/x/datasets/animals.txt'], schedule: 'cosine' }, { latest: { 'eval/loss': 3.165 }, tags: ['baseline'] }),
  run('b', { lr: 0.001, n_layers: 2, dim: 32, data: ['/home/x/datasets/stories.txt'], schedule: 'linear', lora: { rank: 8, alpha: 16 } }, { latest: { 'eval/loss': 2.9 }, notes: 'warmup too short' }),
  run('c', { lr: '3e-4', n_layers: 2, model: { n_layers: 6 } }, { latest: { 'eval/loss': null } }),
]
const ids = (query: string) => searchRuns(RUNS, query).map((r) => r.id)

describe('config paths', () => {
  it('flattens nested config into dotted paths, arrays staying values', () => {
    expect(flattenConfig({ a: 1, lora: { rank: 8, x: { y: true } }, data: ['p', 'q'], gone: undefined })).toEqual({ a: 1, 'lora.rank': 8, 'lora.x.y': true, data: ['p', 'q'] })
    expect(configValue({ lora: { rank: 8 } }, 'lora.rank')).toBe(8)
    expect(configValue({ lora: { rank: 8 } }, 'lora.alpha')).toBeUndefined()
    expect(configPaths([{ b: 1 }, { a: { c: 2 }, b: 3 }])).toEqual(['a.c', 'b'])
  })
})

describe('run search', () => {
  it('parses key=value, key:value, comparisons, quotes and plain words', () => {
    expect(parseSearch('lr=3e-4 n_layers:4  eval/loss<3 name:"my run" cosine')).toEqual([
      { kind: 'field', key: 'lr', op: '=', value: '3e-4' },
      { kind: 'field', key: 'n_layers', op: ':', value: '4' },
      { kind: 'field', key: 'eval/loss', op: '<', value: '3' },
      { kind: 'field', key: 'name', op: ':', value: 'my run' },
      { kind: 'text', text: 'cosine' },
    ])
    expect(parseSearch('   ')).toEqual([])
  })

  it('compares numbers by value: 3e-4 finds 0.0003 and the string "3e-4"', () => {
    expect(ids('lr=3e-4')).toEqual(['a', 'c'])
    expect(ids('lr=0.0003')).toEqual(['a', 'c'])
    expect(ids('lr=1e-3')).toEqual(['b'])
    expect(sameNumber(0.1 + 0.2, 0.3)).toBe(true)
    expect(sameNumber(3e-4, 3.1e-4)).toBe(false)
  })

  it('key:value matches numbers by value, not as a substring (n_layers:4 is not dim 48)', () => {
    expect(ids('n_layers:4')).toEqual(['a'])
    // A key matches any dotted path ending in it: model.n_layers = 6 in run c.
    expect(ids('n_layers=6')).toEqual(['c'])
    expect(ids('model.n_layers=6')).toEqual(['c'])
    expect(ids('lora.rank=8')).toEqual(['b'])
    expect(ids('rank=8')).toEqual(['b'])
  })

  it('key:value finds text inside a value (and inside list items); key=value wants all of it', () => {
    expect(ids('data:animals')).toEqual(['a'])
    expect(ids('schedule=cos')).toEqual([])
    expect(ids('schedule=COSINE')).toEqual(['a'])
    expect(ids('schedule:cos')).toEqual(['a'])
  })

  it('compares with < > <= >= != on config values and final metrics; NaN metrics never match', () => {
    expect(ids('lr<1e-3')).toEqual(['a', 'c'])
    expect(ids('lr<=1e-3')).toEqual(['a', 'b', 'c'])
    expect(ids('lr>3e-4')).toEqual(['b'])
    expect(ids('eval/loss<3')).toEqual(['b'])
    expect(ids('eval/loss>=3.165')).toEqual(['a'])
    expect(ids('schedule!=linear')).toEqual(['a'])
    expect(ids('schedule<linear')).toEqual([])
  })

  it('plain words search names, tags, notes, config keys and config values, numbers by value', () => {
    expect(ids('0.0003')).toEqual(['a', 'c'])
    expect(ids('stories')).toEqual(['b'])
    expect(ids('lora')).toEqual(['b'])
    expect(ids('baseline')).toEqual(['a'])
    expect(ids('warmup')).toEqual(['b'])
    expect(ids('48')).toEqual(['a'])
    expect(ids('nothing-like-this')).toEqual([])
  })

  it('needs every term to match, and run fields work as keys', () => {
    expect(ids('n_layers=2 lr=3e-4')).toEqual(['c'])
    expect(ids('tag=baseline')).toEqual(['a'])
    expect(ids('name=b')).toEqual(['b'])
    expect(ids('stage=pretrain')).toEqual(['a', 'b', 'c'])
  })

  it('treats a half-typed term (lr=) as "has the key" and an unknown key as no match', () => {
    expect(ids('lora.rank=')).toEqual(['b'])
    expect(ids('no_such_key=1')).toEqual([])
    expect(ids('')).toEqual(['a', 'b', 'c'])
  })
})
