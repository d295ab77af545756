// The win-rate channels (issue 14): blind pairs for people, each rating saved at once, the figures
// from people's ratings, and the leaderboard over all finished comparisons.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { Store } from '../../core/tracking/store'

let home: string
let services: Services
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-winrate-services-'))
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

describe('win rate in the app', () => {
  it('serves blind pairs, saves ratings, reports figures and ranks the models', async () => {
    const store = Store.open(home)
    const a = store.createRun({ stage: 'sft', config: {} }).id
    const b = store.createRun({ stage: 'sft', config: {} }).id
    const run = store.createRun({ stage: 'winrate', config: { model_a: a, model_b: b, judge: 'human' }, parents: [{ runId: a, role: 'model_a' }, { runId: b, role: 'model_b' }] })
    const file = join(home, 'runs', run.id, 'winrate_pairs.jsonl')
    mkdirSync(join(home, 'runs', run.id), { recursive: true })
    const pairs = [true, false].map((aFirst, index) => ({ index, id: `p${index}`, prompt: 'Q?', messages: [{ role: 'user', content: 'Q?' }], answer_a: `A${index}`, answer_b: `B${index}`, tokens_a: 2, tokens_b: 2, a_first: aFirst }))
    writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n')
    store.addArtifact(run.id, { kind: 'winrate_pairs', path: file })
    store.startRun(run.id, { pid: process.pid, hostname: hostname() })
    store.finishRun(run.id, 'finished')
    store.close()

    const shown = (await call('winrate:pairs', { id: run.id, annotator: 'ann' })).pairs
    expect(shown.map((p: any) => [p.left, p.right, p.rating])).toEqual([['A0', 'B0', null], ['B1', 'A1', null]])
    expect(await call('winrate:figures', { id: run.id })).toBeNull()
    expect(await call('winrate:judge', { id: run.id, index: 0, annotator: 'ann', rating: 3 })).toEqual({ judged: 1, total: 2 })
    expect(await call('winrate:judge', { id: run.id, index: 1, annotator: 'ann', rating: 2 })).toEqual({ judged: 2, total: 2 }) // left is B: A loses
    const figures = await call('winrate:figures', { id: run.id })
    expect(figures.counts).toMatchObject({ wins: 1, losses: 1, ties: 0 })

    await expect(call('winrate:judge', { id: run.id, index: 0, annotator: 'ann', rating: 5 })).rejects.toThrow(/rating/)
    await expect(call('winrate:judge', { id: run.id, index: 9, annotator: 'ann', rating: 1 })).rejects.toThrow(/has no pair 9/)
    await expect(call('winrate:pairs', { id: 'nope', annotator: 'ann' })).rejects.toThrow(/nope/)

    const board = await call('leaderboard:get')
    expect(board.comparisons).toBe(1)
    expect(board.standings.map((s: any) => s.model).sort()).toEqual([a, b].sort())
  })
})
