// The real 'model:estimate' for a stage that starts from a checkpoint: the server reads the picked
// folder's config.json (an adapter folder: its base's) and the stage estimates full or LoRA
// fine-tuning on that model with the one shared estimate (core/train/memoryEstimate.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { MODEL_PRESETS } from '../../core/model/config'
import { llamaConfigToHf } from '../../core/model/hf'
import { ADAPTER_FILES, peftAdapterConfig } from '../../core/model/peft'
import { adapterParameters, trainingMemory } from '../../core/train/memoryEstimate'

let home: string
let services: Services
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>
const tiny = MODEL_PRESETS.tiny

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-estimate-'))
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

describe('memory preview of a fine-tuning', () => {
  it("estimates SFT on the picked checkpoint's model, full and LoRA, and asks for the checkpoint first", async () => {
    const base = join(home, 'base')
    mkdirSync(base)
    writeFileSync(join(base, 'config.json'), JSON.stringify(llamaConfigToHf(tiny)))
    const full = await call('model:estimate', { stage: 'sft', config: { finetuning: 'full', batch_size: 4, seq_len: 64 }, parents: { base } })
    expect(full).toMatchObject({ ...trainingMemory(tiny, { batch: 4, seq: 64 }), notes: expect.any(Array) })
    const lora = await call('model:estimate', { stage: 'sft', config: { finetuning: 'lora', lora_rank: 4, lora_targets: ['q', 'k', 'v'], batch_size: 4, seq_len: 64 }, parents: { base } })
    expect(lora.trainedParams).toBe(adapterParameters(tiny, 4, ['q', 'k', 'v']))
    expect(lora.totalBytes).toBe(trainingMemory(tiny, { batch: 4, seq: 64, lora: { rank: 4, targets: ['q', 'k', 'v'] } }).totalBytes)
    // What training holds beyond the process's runtime, which a model this small is dwarfed by:
    // LoRA about 0.59 of full here (full fine-tuning runs each layer as one native op, which keeps
    // fewer activations than LoRA's per-kernel path; core/train/memoryEstimate.ts).
    expect(lora.totalBytes - lora.runtimeBytes).toBeLessThan(0.7 * (full.totalBytes - full.runtimeBytes))
    // An adapter folder is estimated on its base model.
    const adapter = join(home, 'adapter')
    mkdirSync(adapter)
    writeFileSync(join(adapter, ADAPTER_FILES.config), JSON.stringify(peftAdapterConfig({ rank: 8, alpha: 16, dropout: 0, targets: ['q', 'v'] }, base, 'CAUSAL_LM')))
    writeFileSync(join(adapter, ADAPTER_FILES.model), '') // not read: the preview needs the config alone
    expect((await call('model:estimate', { stage: 'sft', config: { batch_size: 4, seq_len: 64 }, parents: { base: adapter } })).totalBytes).toBe(full.totalBytes)
    await expect(call('model:estimate', { stage: 'sft', config: {} })).rejects.toThrow(/pick the base checkpoint/)
    await expect(call('model:estimate', { stage: 'sft', config: {}, parents: { base: join(home, 'nowhere') } })).rejects.toThrow(/nowhere.*config\.json/)
  })
})
