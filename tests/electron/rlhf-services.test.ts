// A whole RLHF sequence started from the app (issue 12): the rlhf:* channels run the same rounds
// as `workbench rlhf` (core/rl/sequence.ts) in the services process, refuse a plan that cannot run
// before any round starts, and cancel stops the round in progress and starts no later one; the
// sequences are recorded in the store, so a restarted app lists them (one it left running: interrupted).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { Tokenizer } from '../../core/tokenizer'
import { Store } from '../../core/tracking/store'
import { waitUntil } from '../e2e/context'

const QUESTIONS = ['What color is the sky?', 'What color is grass?', 'How many legs has a cat?', 'Name a fruit.']
let home: string
let services: Services
let policyDir: string
let rmDir: string
let prompts: string
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>
const TINY = { k: 2, max_new_tokens: 4, max_prompts: 2, max_steps: 2, batch_size: 2, sample_count: 0, checkpoint_every: 0, eval_every: 0 }

beforeAll(async () => {
  await initBackend('cpu')
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-rlhf-services-'))
  const tokenizer = Tokenizer.train([QUESTIONS.join(' ') + ' blue green four apple'], { vocabSize: 300 })
  const config = { vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 64 }
  const policy = Llama.create(config, 0)
  policyDir = path.join(home, 'models', 'policy')
  await saveCheckpoint(policyDir, { config: policy.config, weights: policy.weights, tokenizer })
  policy.dispose()
  const rm = Llama.create(config, 1)
  const score = tf.tensor2d(Array.from({ length: 32 }, (_, i) => Math.cos(i)), [1, 32])
  rmDir = path.join(home, 'models', 'rm')
  await saveCheckpoint(rmDir, { config: rm.config, weights: { ...rm.weights, 'score.weight': score }, tokenizer, kind: 'reward' })
  rm.dispose()
  score.dispose()
  fs.mkdirSync(path.join(home, 'datasets'), { recursive: true })
  prompts = path.join(home, 'datasets', 'prompts.jsonl')
  const lines = QUESTIONS.map((prompt, i) => ({ id: `q${i}`, prompt, ...(i === 3 ? { tags: ['safety'] } : {}) }))
  fs.writeFileSync(prompts, lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  fs.rmSync(home, { recursive: true, force: true })
})

const finished = (id: string) => waitUntil(`sequence ${id} to end`, async () => {
  const info = await call('rlhf:get', { id })
  return info.status !== 'running' && info
}, 280_000)

describe('RLHF sequences from the app', () => {
  it('refuses a plan that cannot run, before any round starts', async () => {
    const plan = { policy: policyDir, prompts, rmHelpful: rmDir, rounds: 1, method: 'rs' }
    await expect(call('rlhf:start', { ...plan, rmHelpful: undefined })).rejects.toThrow(/give a reward model/)
    await expect(call('rlhf:start', { ...plan, settings: { rejection_sampling: { nonsense: 1 } } })).rejects.toThrow(/nonsense/)
    await expect(call('rlhf:start', { ...plan, policy: 'no-such-run' })).rejects.toThrow(/no run with id "no-such-run"/)
    await expect(call('rlhf:start', { ...plan, prompts: '/etc/passwd' })).rejects.toThrow(/outside the workbench home/)
    await expect(call('rlhf:start', { ...plan, safetyPromptShare: 1.5 })).rejects.toThrow(/a share in 0..1/)
    // Only helpfulness prompts when the file has no tag: a share needs safety prompts.
    fs.writeFileSync(path.join(home, 'datasets', 'plain.jsonl'), JSON.stringify({ id: 'a', prompt: 'Hi' }) + '\n')
    await expect(call('rlhf:start', { ...plan, prompts: path.join(home, 'datasets', 'plain.jsonl'), safetyPromptShare: 0.5 })).rejects.toThrow(/needs safety prompts/)
    const store = Store.open(home)
    expect(store.listRuns({}).length).toBe(0)
    store.close()
  })

  it('runs two rounds, V2 from V1, with the share of safety prompts in each round\'s config', async () => {
    const started = await call('rlhf:start', { policy: policyDir, prompts, rmHelpful: rmDir, rounds: 2, method: 'rs', safetyPromptShare: 0.5, settings: { rejection_sampling: TINY } })
    expect(started).toMatchObject({ status: 'running', method: 'rs', rounds: 2 })
    const info = await finished(started.id)
    expect(info.status).toBe('finished')
    expect(info.started.map((r: any) => [r.version, r.stage])).toEqual([['RLHF-V1', 'rejection_sampling'], ['RLHF-V2', 'rejection_sampling']])
    expect(info.started[1].policy).toBe(info.started[0].runId)
    const v2 = await call('runs:get', { id: info.started[1].runId })
    expect(v2).toMatchObject({ name: 'RLHF-V2', status: 'finished', parentIds: [info.started[0].runId] })
    expect(v2.config.safety_prompt_share).toBe(0.5)
    expect(v2.params.safety_share_drawn).toBe(0.5)
    expect((await call('rlhf:list')).map((s: any) => s.id)).toContain(started.id)
  }, 300_000)

  it('cancel stops the round in progress and starts no later round', async () => {
    const long = { ...TINY, max_prompts: 4, max_new_tokens: 16, k: 4, max_steps: 2000 }
    const started = await call('rlhf:start', { policy: policyDir, prompts, rmHelpful: rmDir, rounds: 3, method: 'rs', settings: { rejection_sampling: long } })
    const first = started.started[0].runId as string
    await waitUntil('round 1 to run', async () => (await call('runs:get', { id: first })).status === 'running', 120_000)
    expect(await call('rlhf:cancel', { id: started.id })).toEqual({ cancelled: true })
    const info = await finished(started.id)
    expect(info.status).toBe('cancelled')
    expect(info.started).toHaveLength(1)
    expect((await call('runs:get', { id: first })).status).toBe('stopped')
    await expect(call('rlhf:cancel', { id: started.id })).rejects.toThrow(/is cancelled, so there is nothing to cancel/)
  }, 300_000)

  it('after a restart lists every sequence with its rounds; one left running by the closed app is interrupted', async () => {
    const before = (await call('rlhf:list')).map((s: any) => [s.id, s.status, s.started.length])
    const long = { ...TINY, max_prompts: 4, max_new_tokens: 16, k: 4, max_steps: 2000 }
    const started = await call('rlhf:start', { policy: policyDir, prompts, rmHelpful: rmDir, rounds: 2, method: 'rs', settings: { rejection_sampling: long } })
    const first = started.started[0].runId as string
    await waitUntil('round 1 to run', async () => (await call('runs:get', { id: first })).status === 'running', 120_000)

    // The app quits (its round's worker is told to stop) and starts again on the same home.
    await services.close()
    await waitUntil('round 1 to stop', async () => {
      const store = Store.open(home)
      try {
        return store.getRunRecord(first).status !== 'running'
      } finally {
        store.close()
      }
    }, 120_000)
    services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })

    const after = await call('rlhf:list')
    expect(after.map((s: any) => s.id)).toEqual([started.id, ...before.map((b: any[]) => b[0])])
    expect(after.slice(1).map((s: any) => [s.id, s.status, s.started.length])).toEqual(before)
    const left = await call('rlhf:get', { id: started.id })
    expect(left).toMatchObject({ status: 'interrupted', method: 'rs', rounds: 2, policy: policyDir })
    expect(left.error).toMatch(/stopped before its last round ended/)
    expect(left.started).toEqual([{ round: 1, version: expect.stringMatching(/^RLHF-V\d+$/), stage: 'rejection_sampling', runId: first, policy: policyDir }])
    await expect(call('rlhf:cancel', { id: started.id })).rejects.toThrow(/is interrupted, so there is nothing to cancel/)
    await expect(call('rlhf:get', { id: 'rlhf-nosuch' })).rejects.toThrow(/no RLHF sequence "rlhf-nosuch"/)
  }, 300_000)
})
