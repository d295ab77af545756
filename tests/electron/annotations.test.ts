// The annotation API over the real services and store, with a tiny random checkpoint as both
// sources (at two temperatures): start, stream, judge, skip, undo, a second annotator, summary,
// and export through the one dataset loader.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { dispatch } from '../../electron/shared/api'
import { initBackend } from '../../core/backend'
import { Tokenizer } from '../../core/tokenizer'
import { Llama } from '../../core/model/llama'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Store } from '../../core/tracking/store'
import { loadPreferenceDataset } from '../../core/data/preferences/dataset'

let home: string
let services: Services
let checkpoint: string
const hub = new EventHub()
const tokens = new Map<string, string>()
hub.subscribe((event, payload: any) => {
  if (event === 'chat:token') tokens.set(payload.requestId, (tokens.get(payload.requestId) ?? '') + payload.text)
})
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>

beforeAll(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-annotate-'))
  await initBackend('cpu')
  const tokenizer = Tokenizer.train(['the cat sat on the mat and the dog ran far away '.repeat(20)], { vocabSize: 300 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 2, n_kv_heads: 1, max_seq_len: 64 }, 1)
  checkpoint = await saveCheckpoint(path.join(home, 'models', 'tiny'), { config: model.config, weights: model.weights, tokenizer })
  model.dispose()
  services = createServices({ home, emit: hub.emit, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  fs.rmSync(home, { recursive: true, force: true })
})

describe('annotation API', () => {
  it('refuses bad sessions with clear messages', async () => {
    const sources = [{ checkpoint, temperature: 0.7 }, { checkpoint, temperature: 0.7 }]
    await expect(call('prefs:start', { prompts: { kind: 'typed', texts: ['Hi'] }, sources })).rejects.toThrow(/same checkpoint at the same temperature/)
    // A folder outside the home is refused before anything about it is read (the answer never
    // tells whether it exists); a folder inside the home that holds no model is named as such.
    await expect(call('prefs:start', { prompts: { kind: 'typed', texts: ['Hi'] }, sources: [{ checkpoint: '/etc', temperature: 1 }, { checkpoint, temperature: 1 }] })).rejects.toThrow(/sources.0.checkpoint.*outside the workbench home/)
    const empty = path.join(home, 'datasets')
    await expect(call('prefs:start', { prompts: { kind: 'typed', texts: ['Hi'] }, sources: [{ checkpoint: empty, temperature: 1 }, { checkpoint, temperature: 1 }] })).rejects.toThrow(/sources.0.checkpoint: .* is not a checkpoint folder/)
    await expect(call('prefs:start', { prompts: { kind: 'file', path: '/etc/passwd' }, sources })).rejects.toThrow(/outside the workbench home/)
  })

  it('runs a session end to end: streamed answers, hidden order, judgements, skip, undo, two annotators', async () => {
    const { id, prompts } = await call('prefs:start', {
      name: 'typed session',
      prompts: { kind: 'typed', texts: ['the cat', 'the dog', ' '] },
      sources: [{ checkpoint, temperature: 0.2 }, { checkpoint, temperature: 1.5 }],
      maxTokens: 6,
    })
    expect(prompts).toBe(2)
    const first = await call('prefs:next', { id, annotator: 'ada', requestId: 'q1' })
    expect(first).toMatchObject({ done: 0, total: 2, item: { position: 0, messages: [{ role: 'user', content: 'the cat' }] } })
    // Both answers streamed under their own request ids; the page is never told which source is A.
    expect(tokens.get('q1-a') ?? '').toBe(first.item.answerA)
    expect(tokens.get('q1-b') ?? '').toBe(first.item.answerB)
    expect(JSON.stringify(first)).not.toContain('temperature')

    await expect(call('prefs:judge', { id, itemId: first.item.id, annotator: 'ada', choice: 'a' })).rejects.toThrow(/rating: pick how much better/)
    expect(await call('prefs:judge', { id, itemId: first.item.id, annotator: 'ada', choice: 'a', rating: 'better', safety: 'both_safe' })).toEqual({ done: 1, total: 2 })
    const second = await call('prefs:next', { id, annotator: 'ada', requestId: 'q2' })
    expect(second.item.position).toBe(1)
    await call('prefs:judge', { id, itemId: second.item.id, annotator: 'ada', choice: null })
    expect(await call('prefs:next', { id, annotator: 'ada', requestId: 'q3' })).toMatchObject({ item: null, done: 2, total: 2 })
    // Undo the skip: the same pair (same answers, no regeneration) comes back.
    expect(await call('prefs:undo', { id, annotator: 'ada' })).toEqual({ position: 1, done: 1, total: 2 })
    const again = await call('prefs:next', { id, annotator: 'ada', requestId: 'q4' })
    expect(again.item).toEqual(second.item)
    expect(tokens.has('q4-a')).toBe(false)
    await call('prefs:judge', { id, itemId: again.item.id, annotator: 'ada', choice: 'b', rating: 'negligibly_better', safety: 'both_unsafe' })

    // A second annotator judges the same pairs: agreement on the first, disagreement on the second.
    const bob1 = await call('prefs:next', { id, annotator: 'bob', requestId: 'q5' })
    expect(bob1.item).toEqual(first.item)
    await call('prefs:judge', { id, itemId: bob1.item.id, annotator: 'bob', choice: 'a', rating: 'significantly_better', safety: 'both_safe' })
    await call('prefs:judge', { id, itemId: again.item.id, annotator: 'bob', choice: 'a', rating: 'slightly_better', safety: 'only_chosen_safe' })

    const summary = await call('prefs:summary', { id })
    expect(summary).toMatchObject({
      items: 2,
      prompts: 2,
      judgements: 4,
      skipped: 0,
      byRating: { significantly_better: 1, better: 1, slightly_better: 1, negligibly_better: 1 },
      bySafety: { only_chosen_safe: 1, both_safe: 2, both_unsafe: 1, none: 0 },
      byAnnotator: { ada: 2, bob: 2 },
      agreement: { items: 2, comparisons: 2, agreeing: 1, rate: 0.5 },
    })
    const list = await call('prefs:list')
    expect(list.find((d: any) => d.id === id)).toMatchObject({ kind: 'annotated', pairs: 4, prompts: 2, status: 'running' })
    await call('prefs:finish', { id })

    const store = Store.open(home)
    const pairs = await loadPreferenceDataset(store, id)
    store.close()
    expect(pairs).toHaveLength(4)
    const adaFirst = pairs.find((p) => p.extra.annotator === 'ada' && p.messages[0].content === 'the cat')!
    expect(adaFirst.chosen).toBe(first.item.answerA)
    // The hidden order is recorded: the chosen answer's source is one of the two, the rejected the other.
    expect(new Set([adaFirst.extra.chosen_source, adaFirst.extra.rejected_source])).toEqual(new Set(['models/tiny · T=0.2', 'models/tiny · T=1.5']))
  }, 120_000)

  it('takes the prompts of an earlier dataset', async () => {
    const earlier = (await call('prefs:list')).find((d: any) => d.kind === 'annotated')
    const { prompts } = await call('prefs:start', { prompts: { kind: 'dataset', runId: earlier.id }, sources: [{ checkpoint, temperature: 0.5 }, { checkpoint, temperature: 1 }] })
    expect(prompts).toBe(2)
  })
})
