// The services a rejection-sampling run needs in the app: its form comes from the registry like
// pretraining's, and its selected dataset (a JSONL artifact) can be read back for browsing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { Store } from '../../core/tracking/store'

let home: string
let services: Services
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-rs-services-'))
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

describe('rejection sampling in the app', () => {
  it('has a form: the policy picked as the parent, reward models as model fields, the prompts as an input file', async () => {
    const stage = (await call('stages:list')).find((s: any) => s.name === 'rejection_sampling')
    expect(stage.parentRoles).toEqual(['policy']) // the picker; its config key "policy" is hidden in the form
    const field = (key: string) => stage.fields.find((f: any) => f.key === key)
    expect(field('rm_helpful')).toMatchObject({ pathKind: 'model' })
    expect(field('rm_safety')).toMatchObject({ pathKind: 'model' })
    expect(field('prompts')).toMatchObject({ required: true, pathKind: 'input' })
    expect(field('k')).toMatchObject({ type: 'int', default: 4 })
    expect(field('temperature').default).toBe(1.2)
    expect(field('pool_previous').default).toBe(true)
  })

  it('reads back the selected dataset of a run, and says when a run has none', async () => {
    const store = Store.open(home)
    const run = store.createRun({ stage: 'rejection_sampling', config: {} })
    const file = join(home, 'runs', run.id, 'selected.jsonl')
    mkdirSync(join(home, 'runs', run.id), { recursive: true })
    const rows = [1, 2, 3].map((i) => ({ prompt: `p${i}`, answer: `a${i}`, reward: i, runner_up: null, runner_up_reward: null, round: 1 }))
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n')
    store.addArtifact(run.id, { kind: 'rs_selected', path: file })
    store.close()
    expect(await call('runs:records', { id: run.id, kind: 'rs_selected' })).toEqual({ rows, total: 3 })
    expect(await call('runs:records', { id: run.id, kind: 'rs_selected', limit: 2 })).toEqual({ rows: rows.slice(0, 2), total: 3 })
    await expect(call('runs:records', { id: run.id, kind: 'preferences' })).rejects.toThrow(`run ${run.id} has no preferences artifact`)
    await expect(call('runs:records', { id: run.id, kind: '../etc' })).rejects.toThrow(/artifact kind/)
  })
})
