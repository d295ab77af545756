// The real services over a temporary home: store, registry, job runner and chat, wired as web
// mode and the desktop app use them. One tiny pretraining run goes through the whole path.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch, type EventName } from '../../electron/shared/api'
import { countParameters, MODEL_PRESETS } from '../../core/model/config'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { ScalarHead } from '../../core/model/heads'
import { loadModel } from '../../core/model/load'
import { scoreConversations } from '../../core/eval/rewardScore'

let home: string
let services: Services
const hub = new EventHub()
const events: { event: EventName; payload: any }[] = []
hub.subscribe((event, payload) => events.push({ event, payload }))

const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

/** A small varied corpus: enough distinct text for a tokenizer and a few batches. */
function corpus(): string {
  const animals = ['cat', 'dog', 'fox', 'owl', 'bee', 'elk', 'yak', 'emu']
  const verbs = ['sees', 'chases', 'finds', 'helps', 'meets', 'follows']
  const lines: string[] = []
  for (let i = 0; i < 400; i++) {
    lines.push(`The ${animals[i % 8]} ${verbs[i % 6]} the ${animals[(i * 3 + 1) % 8]} near tree ${i % 17}.`)
  }
  return lines.join('\n')
}

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-services-'))
  mkdirSync(join(home, 'datasets'), { recursive: true })
  writeFileSync(join(home, 'datasets', 'animals.txt'), corpus())
  services = createServices({ home, emit: hub.emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

describe('services over a temp home', () => {
  it('lists stages with their form fields and presets', async () => {
    const stages = await call('stages:list')
    const pretrain = stages.find((s: any) => s.name === 'pretrain')
    expect(pretrain.fields.some((f: any) => f.key === 'data' && f.required)).toBe(true)
    expect(Object.keys(pretrain.presets)).toContain('tiny')
  })

  it('previews the exact parameter count of a preset', async () => {
    const estimate = await call('model:estimate', { stage: 'pretrain', config: { model: 'tiny' } })
    expect(estimate.params).toBe(countParameters(MODEL_PRESETS.tiny))
    expect(estimate.totalBytes).toBeGreaterThan(estimate.params * 16)
    await expect(call('model:estimate', { stage: 'nope', config: {} })).rejects.toThrow(/unknown stage "nope"/)
  })

  it('checks the whole config before a run exists: cross-field rules, parent roles left to the picker', async () => {
    const data = [join(home, 'datasets', 'animals.txt')]
    expect(await call('config:check', { stage: 'pretrain', config: { data, n_heads: 4, n_kv_heads: 3 } })).toEqual([
      { key: 'n_heads', message: 'n_heads 4 is not divisible by n_kv_heads 3' },
    ])
    expect(await call('config:check', { stage: 'pretrain', config: { data, n_heads: 4, n_kv_heads: 2 } })).toEqual([])
    // SFT's base checkpoint is picked beside the form, so the form's config lacks it.
    expect(await call('config:check', { stage: 'sft', config: { data } })).toEqual([])
    await expect(call('config:check', { stage: 'nope', config: {} })).rejects.toThrow(/unknown stage "nope"/)
  })

  it('reports system info and lists datasets in the home', async () => {
    const info = await call('system:info')
    expect(info).toMatchObject({ home, mode: 'web', version: '0.1.0' })
    const datasets = await call('datasets:list')
    expect(datasets.map((d: any) => d.name)).toContain('animals.txt')
    await expect(call('datasets:pick')).rejects.toThrow(/web mode has no file dialog/)
  })

  it('refuses data outside the home, unknown runs and bad configs with readable errors', async () => {
    await expect(call('runs:create', { stage: 'pretrain', config: { data: ['/etc/passwd'] } })).rejects.toThrow(/outside the workbench home/)
    await expect(call('runs:get', { id: 'nope' })).rejects.toThrow(/no run with id "nope"/)
    await expect(call('runs:create', { stage: 'pretrain', config: { data: [join(home, 'datasets', 'animals.txt')], lr: 'fast' } })).rejects.toThrow(/lr: expected a number/)
  })

  it('runs a tiny pretraining end to end: live events, metrics, checkpoint, chat', async () => {
    const config = {
      data: [join(home, 'datasets', 'animals.txt')],
      model: 'tiny', dim: 32, n_layers: 2, n_heads: 2, seq_len: 32, vocab_size: 300,
      max_steps: 6, batch_size: 2, warmup_steps: 1, log_every: 1, eval_every: 3, eval_batches: 1,
      sample_every: 0, sample_count: 1, sample_tokens: 4, checkpoint_every: 3,
    }
    const { id } = await call('runs:create', { stage: 'pretrain', config, experiment: 'test', name: 'tiny' })
    const done = await waitFor(() => events.find((e) => e.event === 'run:update' && e.payload.id === id && ['finished', 'failed'].includes(e.payload.status)), 110_000)
    const detail = await call('runs:get', { id })
    expect(detail.error ?? '').toBe('')
    expect(done.payload.status).toBe('finished')
    expect(events.some((e) => e.event === 'run:metrics' && e.payload.id === id && 'train/loss' in e.payload.values)).toBe(true)

    const series = await call('runs:metrics', { id })
    const loss = series.find((s: any) => s.key === 'train/loss')
    expect(loss.steps.length).toBeGreaterThanOrEqual(6)
    expect(loss.times[0]).toBeGreaterThan(Date.UTC(2020, 0, 1))
    const listed = await call('runs:list', { experiment: 'test' })
    expect(listed.map((r: any) => r.id)).toEqual([id])
    // The runs table searches the config and shows its keys as columns: the list carries it.
    expect(listed[0].config).toMatchObject({ n_layers: 2, seq_len: 32 })

    const checkpoints = await call('checkpoints:list')
    expect(checkpoints.length).toBeGreaterThan(0)
    // A run page's "export GGUF": the file lands in <home>/exports/ and is the run's artifact.
    const exported = await call('models:export', { checkpoint: checkpoints[0].path, format: 'gguf' })
    expect(exported.files[0].startsWith(join(home, 'exports'))).toBe(true)
    expect(exported.bytes).toBeGreaterThan(0)
    expect((await call('runs:artifacts', { id })).some((a: any) => a.kind === 'export' && a.absPath === exported.files[0])).toBe(true)
    await expect(call('models:export', { checkpoint: join(home, 'datasets') })).rejects.toThrow(/holds no model checkpoint/)
    const tokens: string[] = []
    hub.subscribe((event, payload: any) => {
      if (event === 'chat:token' && payload.requestId === 'r1') tokens.push(payload.text)
    })
    const reply = await call('chat:generate', { requestId: 'r1', checkpoint: checkpoints[0].path, messages: [{ role: 'user', content: 'The cat' }], maxTokens: 8, seed: 1 })
    expect(reply.tokens).toBeGreaterThan(0)
    expect(tokens.join('')).toBe(reply.text)
    await expect(call('runs:cancel', { id })).rejects.toThrow(/finished, so there is nothing to cancel/)

    // The chat screen's reward score: a reward model made from this checkpoint scores a reply
    // exactly as core's scoreConversations does; a language model is refused as a reward model.
    const lm = loadModel(checkpoints[0].path)
    const head = ScalarHead.create('reward', lm.config.dim, 3)
    const rmDir = join(home, 'rm')
    const { ['lm_head.weight']: _lmHead, ...trunk } = lm.model.weights
    await saveCheckpoint(rmDir, { config: { ...lm.config, tie_embeddings: true }, weights: { ...trunk, 'score.weight': head.weight }, tokenizer: lm.tokenizer, kind: 'reward' })
    lm.dispose()
    head.dispose()
    const messages = [{ role: 'user', content: 'The cat' }]
    const { score } = await call('reward:score', { checkpoint: rmDir, messages, answer: reply.text })
    const rm = loadModel(rmDir, { heads: ['reward'], scoringOnly: true })
    const expected = (await scoreConversations({ model: rm.model, head: rm.heads.reward! }, rm.tokenizer, [{ messages: messages as any, answer: reply.text }]))[0]
    rm.dispose()
    expect(score).toBeCloseTo(expected, 5)
    await expect(call('reward:score', { checkpoint: checkpoints[0].path, messages, answer: 'x' })).rejects.toThrow(/cannot load the reward model .*score\.weight|reward/)
  }, 120_000)
})

async function waitFor<T>(find: () => T | undefined, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const hit = find()
    if (hit) return hit
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error('timed out waiting for the run to end')
}
