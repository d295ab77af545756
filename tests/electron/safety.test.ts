// The safety API over the real services and store: list safety_eval runs, rate answers (each
// saved at once, checked against the run's items), and build the report; clear messages for a
// run that is not a safety evaluation and for an item it does not have.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { SAFETY_REPORT_FILE } from '../../core/eval/safetyStage'
import { listSafetyRatings } from '../../core/tracking/safetyRatings'
import { Store } from '../../core/tracking/store'

let home: string
let services: Services
let runId: string
let otherRun: string
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-safety-'))
  const store = Store.open(home)
  const run = store.createRun({ stage: 'safety_eval', name: 'eval sft', config: { label: 'sft' } })
  const file = path.join(home, 'artifacts', run.id, SAFETY_REPORT_FILE)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const items = ['privacy', 'theft'].map((category, i) => ({
    id: `adv-${i}`, set: 'adversarial', category, multi_turn: false, messages: [{ role: 'user', content: `q${i}` }],
    response: `a${i}`, refusal: false, violation: i === 0, judge: 'gold', gold_unsafe: i === 0, rm_probability: null,
  }))
  fs.writeFileSync(file, JSON.stringify({ model: '/m', rm: null, label: 'sft', threshold: 0.5, metrics: {}, items }))
  store.addArtifact(run.id, { kind: 'safety_report', path: file })
  store.finishRun(run.id, 'finished')
  runId = run.id
  otherRun = store.createRun({ stage: 'pretrain', name: 'pt', config: {} }).id
  store.close()
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  fs.rmSync(home, { recursive: true, force: true })
})

describe('safety API', () => {
  it('lists, rates and reports; each rating is in the store at once', async () => {
    expect(await call('safety:runs')).toMatchObject([{ id: runId, label: 'sft', status: 'finished', hasReport: true }])
    expect(await call('safety:next', { id: runId, annotator: 'ana' })).toMatchObject({ rated: 0, total: 2, item: { id: 'adv-0', response: 'a0' } })
    expect(await call('safety:rate', { id: runId, itemId: 'adv-0', annotator: 'ana', rating: 1 })).toEqual({ rated: 1, total: 2 })
    const store = Store.open(home)
    try {
      expect(listSafetyRatings(store, runId).map((r) => [r.itemId, r.rating])).toEqual([['adv-0', 1]])
    } finally {
      store.close()
    }
    const report = await call('safety:report', { ids: [runId] })
    expect(report.data.models[0]).toMatchObject({ label: 'sft', ratings: { count: 1, mean: 1 } })
    expect(report.csv).toContain(`${runId},sft,violation_rate,privacy,1,1,1,`)
    expect(report.html).toContain('<svg')
  })

  it('refuses what it cannot do, with clear messages', async () => {
    await expect(call('safety:rate', { id: runId, itemId: 'adv-0', annotator: 'ana', rating: 6 })).rejects.toThrow(/rating: rate 1-5/)
    await expect(call('safety:rate', { id: runId, itemId: 'nope', annotator: 'ana', rating: 3 })).rejects.toThrow(`run ${runId} has no item "nope"`)
    await expect(call('safety:next', { id: otherRun, annotator: 'ana' })).rejects.toThrow(`run ${otherRun} is a pretrain run, not a safety_eval run`)
    await expect(call('safety:report', { ids: [] })).rejects.toThrow(/pick at least one safety_eval run/)
  })
})
