// What the app offers from resources/: each stage's shipped defaults (the form's "Load defaults")
// and the demo prompt sets in the dataset pickers, but not the config files.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { defaultsOf } from '../../core/config/defaults'
import { listStages } from '../../core/train/stages/registry'

let home: string
let services: Services
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-resources-'))
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

describe('resources in the app', () => {
  it('every stage carries its shipped default config', async () => {
    const stages = await call('stages:list')
    for (const stage of listStages()) {
      expect(stages.find((s: any) => s.name === stage.name).defaults, stage.name).toEqual(defaultsOf(stage.fields))
    }
  })

  it('the dataset pickers list the demo prompt sets, and no config file', async () => {
    const names = (await call('datasets:list')).map((d: any) => d.name)
    expect(names).toEqual(expect.arrayContaining(['general.jsonl', 'adversarial.jsonl', 'borderline.jsonl', 'multiturn.jsonl']))
    expect(names).not.toContain('pretrain.json')
  })
})
