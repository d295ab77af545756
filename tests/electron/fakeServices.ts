// In-memory services for tests of the transports (web server, IPC shells) and the renderer.
// They hold a small, fixed world: two runs with metrics, one stage with a form, one checkpoint.
// Every call is recorded so tests can assert what reached the services (after validation).

import type {
  ApiHandlers,
  Channel,
  EventSink,
  MetricSeries,
  RlhfSequenceInfo,
  RunDetail,
  StageInfo,
  WorkbenchApi,
} from '../../electron/shared/api'
import { CHANNELS, dispatch } from '../../electron/shared/api'
import { EventHub } from '../../electron/server/eventHub'
import { createFakeAnnotations, type FakeAnnotationState } from './fakeAnnotations'
import { createFakeSafety, type FakeSafetyState } from './fakeSafety'
import type { BlindPair } from '../../core/tracking/winrateJudgements'

export interface FakeWorld {
  handlers: ApiHandlers
  hub: EventHub
  calls: { channel: Channel; args: unknown }[]
  runs: RunDetail[]
  metrics: Map<string, MetricSeries[]>
  annotations: FakeAnnotationState
  safety: FakeSafetyState
}

export const FAKE_STAGE: StageInfo = {
  name: 'pretrain',
  title: 'Pretraining',
  description: 'Next-token prediction on a text corpus.',
  fields: [
    { key: 'data', type: 'path', help: 'text file to train on', required: true, group: 'data' },
    { key: 'dim', type: 'int', default: 64, min: 8, max: 4096, help: 'model width', group: 'model' },
    { key: 'n_layers', type: 'int', default: 2, min: 1, max: 64, help: 'transformer blocks', group: 'model' },
    { key: 'n_heads', type: 'int', default: 4, min: 1, max: 64, help: 'attention heads', group: 'model' },
    { key: 'n_kv_heads', type: 'int', min: 1, max: 64, help: 'key/value heads; must divide n_heads', group: 'model' },
    { key: 'lr', type: 'float', default: 0.001, min: 0, max: 1, help: 'peak learning rate', group: 'optimiser' },
    { key: 'schedule', type: 'enum', default: 'cosine', choices: ['cosine', 'linear', 'constant'], help: 'decay', group: 'optimiser' },
    { key: 'tie_embeddings', type: 'bool', default: false, help: 'share input and output embeddings', group: 'model' },
  ],
  presets: { tiny: { dim: 32, n_layers: 2 }, small: { dim: 288, n_layers: 6 } },
  parentRoles: [],
}

/** A fine-tuning stage: it starts from a checkpoint, fully or with LoRA. */
export const FAKE_SFT_STAGE: StageInfo = {
  name: 'sft',
  title: 'Supervised fine-tuning',
  description: 'Fine-tune a checkpoint on instruction data.',
  fields: [
    { key: 'data', type: 'path', help: 'instruction data', required: true, group: 'data' },
    { key: 'batch_size', type: 'int', default: 8, min: 1, max: 4096, help: 'sequences per step', group: 'optimiser' },
    { key: 'finetuning', type: 'enum', default: 'full', choices: ['full', 'lora'], help: 'train every weight, or LoRA adapters', group: 'model' },
    { key: 'lora_rank', type: 'int', default: 8, min: 1, max: 1024, help: 'LoRA rank', group: 'model' },
  ],
  presets: {},
  parentRoles: ['base'],
}

function series(key: string, n: number, f: (i: number) => number, t0: number): MetricSeries {
  const steps = Array.from({ length: n }, (_, i) => i + 1)
  return { key, steps, values: steps.map(f), times: steps.map((s) => t0 + s * 1000) }
}

export function createFakeWorld(): FakeWorld {
  const hub = new EventHub()
  const emit: EventSink = hub.emit
  const calls: FakeWorld['calls'] = []
  const t0 = Date.UTC(2026, 0, 1)
  const base = { tags: [] as string[], parentIds: [] as string[], params: {}, latest: {} }
  const runs: RunDetail[] = [
    { ...base, id: 'run-a', name: 'tiny-a', experiment: 'demo', stage: 'pretrain', status: 'finished', createdAt: t0, startedAt: t0, endedAt: t0 + 60_000, config: { dim: 32, lr: 0.001, batch_size: 4, seq_len: 32 }, latest: { 'train/loss': 2.5 }, tags: ['baseline'] },
    { ...base, id: 'run-b', name: 'tiny-b', experiment: 'demo', stage: 'pretrain', status: 'running', createdAt: t0 + 1000, startedAt: t0 + 1000, config: { dim: 32, lr: 0.003, batch_size: 4, seq_len: 32 }, latest: { 'train/loss': 3.1 }, progress: { step: 5, totalSteps: 20, loss: 3.1, etaSeconds: 30 } },
    { ...base, id: 'run-c', name: 'sft-c', experiment: 'chat', stage: 'sft', status: 'interrupted', createdAt: t0 + 2000, config: { lr: 0.0001 }, parentIds: ['run-a'] },
  ]
  const metrics = new Map<string, MetricSeries[]>([
    ['run-a', [series('train/loss', 20, (i) => 5 / i + 2, t0), series('eval/loss', 4, (i) => 4 / i + 2.2, t0)]],
    ['run-b', [series('train/loss', 5, (i) => 6 / i + 2, t0)]],
    ['run-c', []],
  ])

  function find(id: string): RunDetail {
    const run = runs.find((r) => r.id === id)
    if (!run) throw new Error(`no run with id "${id}"`)
    return run
  }
  function summary(run: RunDetail) {
    const { params: _p, ...rest } = run
    return rest
  }

  const annotations = createFakeAnnotations(emit)
  const safety = createFakeSafety()
  const winratePairs: BlindPair[] = [
    { index: 0, messages: [{ role: 'user', content: 'Name a color.' }], left: 'Blue.', right: 'I like green a lot.', rating: null },
    { index: 1, messages: [{ role: 'user', content: 'Count to three.' }], left: '1 2 3', right: 'One, two, three.', rating: null },
  ]
  // RLHF sequences: starting one starts its first round as a running run; cancelling stops it.
  const sequences: RlhfSequenceInfo[] = []
  const handlers: ApiHandlers = {
    ...annotations.handlers,
    ...safety.handlers,
    'runs:list': async (f) =>
      runs
        .filter((r) => (!f.stage || r.stage === f.stage) && (!f.status || r.status === f.status) && (!f.experiment || r.experiment === f.experiment))
        .filter((r) => (!f.tag || r.tags.includes(f.tag)) && (!f.text || (r.name + r.id).includes(f.text)))
        .map(summary),
    'runs:get': async ({ id }) => structuredClone(find(id)),
    'runs:metrics': async ({ id, keys }) => (metrics.get(find(id).id) ?? []).filter((s) => !keys || keys.includes(s.key)),
    'runs:compare': async ({ ids }) => {
      const chosen = ids.map(find)
      return {
        runs: chosen.map(summary),
        configDiff: [{ key: 'lr', values: chosen.map((r) => r.config.lr) }],
        metrics: [{ key: 'train/loss', final: chosen.map((r) => r.latest['train/loss'] ?? null), best: chosen.map((r) => r.latest['train/loss'] ?? null), lowerIsBetter: true }],
        series: chosen.map((r) => metrics.get(r.id) ?? []),
      }
    },
    'runs:lineage': async ({ id }) => ({
      parents: find(id).parentIds.map((p) => ({ ...summary(find(p)), role: 'base' })),
      children: runs.filter((r) => r.parentIds.includes(id)).map(summary),
    }),
    'runs:annotate': async ({ id, notes, addTags, removeTags }) => {
      const run = find(id)
      if (notes !== undefined) run.notes = notes
      run.tags = [...run.tags.filter((t) => !removeTags.includes(t)), ...addTags.filter((t) => !run.tags.includes(t))]
      return structuredClone(run)
    },
    'runs:delete': async ({ id, force }) => {
      const children = runs.filter((r) => r.parentIds.includes(id))
      if (children.length > 0 && !force) throw new Error(`run ${id} has ${children.length} run(s) descending from it: ${children.map((c) => c.id).join(', ')}. Pass force to delete it anyway`)
      runs.splice(runs.indexOf(find(id)), 1)
      return { deleted: true }
    },
    'runs:cancel': async ({ id }) => {
      const run = find(id)
      if (run.status !== 'running') throw new Error(`run ${id} is ${run.status}, not running`)
      run.status = 'stopped'
      emit('run:update', { id, status: 'stopped' })
      return { cancelled: true }
    },
    'runs:resume': async ({ id }) => {
      find(id).status = 'running'
      emit('run:update', { id, status: 'running' })
      return { id }
    },
    'runs:events': async () => [{ kind: 'spike', message: 'loss spike 9.1 > 3x median', step: 3, time: t0 }],
    'runs:samples': async () => [{ step: 10, prompt: 'Once upon', response: ' a time', scores: { reward: 0.5 } }],
    'runs:artifacts': async () => [{ kind: 'checkpoint', path: 'runs/run-a/ckpt', absPath: '/tmp/home/runs/run-a/ckpt', bytes: 2048, step: 20 }],
    'runs:records': async () => ({ rows: [], total: 0 }),
    'runs:create': async (args) => {
      const id = `run-${runs.length + 1}`
      runs.push({ ...base, id, name: args.name ?? id, experiment: args.experiment ?? 'default', stage: args.stage, status: 'queued', createdAt: Date.now(), config: args.config })
      metrics.set(id, [])
      return { id }
    },
    'stages:list': async () => [FAKE_STAGE, FAKE_SFT_STAGE],
    'checkpoints:list': async () => [{ path: '/tmp/home/runs/run-a/ckpt', label: 'tiny-a · step 20', runId: 'run-a', step: 20 }],
    'datasets:list': async () => [
      { path: '/tmp/home/datasets/tiny.txt', name: 'tiny.txt', bytes: 1000, folder: 'datasets', format: 'text', readableAs: ['text'] },
      { path: '/tmp/home/datasets/chat.jsonl', name: 'chat.jsonl', bytes: 200, folder: 'datasets', format: 'sft', readableAs: ['sft'], variant: 'messages' },
    ],
    'datasets:inspect': async ({ path }) => ({
      file: path,
      bytes: 200,
      format: 'sft',
      readableAs: ['sft'],
      variant: 'messages',
      counts: { records: 2, valid: 1, variants: { messages: 1 } },
      invalid: 1,
      errors: [`${path}:2: field "messages": has no assistant turn, so nothing to learn`],
      tokenizer: 'a bytes-only tokenizer',
      preview: [
        {
          kind: 'sft',
          source: `${path}:1`,
          variant: 'messages',
          messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }],
          segments: [
            { text: '<s>', trained: false, special: true, tokens: 1 },
            { text: '<|user|>', trained: false, special: true, tokens: 1 },
            { text: 'Hi', trained: false, special: false, tokens: 2 },
            { text: '<|end|>', trained: false, special: true, tokens: 1 },
            { text: '<|assistant|>', trained: false, special: true, tokens: 1 },
            { text: 'Hello', trained: true, special: false, tokens: 5 },
            { text: '<|end|>', trained: true, special: true, tokens: 1 },
            { text: '</s>', trained: false, special: true, tokens: 1 },
          ],
          tokens: 13,
          trainedTokens: 6,
        },
      ],
    }),
    'datasets:pick': async () => null,
    'chat:generate': async ({ requestId, messages }) => {
      const words = ['Hello', ' from', ' the', ' fake', ' model']
      for (const w of words) emit('chat:token', { requestId, text: w })
      return { text: words.join('') + ` (${messages.length} msgs)`, tokens: words.length, stopReason: 'eos', tokensPerSec: 100 }
    },
    'reward:score': async ({ answer }) => ({ score: answer.length / 10 }),
    'model:estimate': async ({ stage, config, parents }) => {
      if (stage === 'sft') {
        // The picked checkpoint's 10k parameters; LoRA trains rank x 100 of them.
        if (!parents?.base) throw new Error('pick the base checkpoint to see the memory this run needs')
        const params = 10_000
        const trained = config.finetuning === 'lora' ? Number(config.lora_rank ?? 8) * 100 : params
        const weightsBytes = (params + (trained < params ? trained : 0)) * 4
        return { params, trainedParams: trained, weightsBytes, gradientBytes: trained * 4, optimizerBytes: trained * 8, activationBytes: 2048, runtimeBytes: 0, threadsBytes: 0, totalBytes: weightsBytes + trained * 12 + 2048, notes: [] }
      }
      const dim = typeof config.dim === 'number' ? config.dim : 64
      const params = dim * dim * 12
      return { params, trainedParams: params, weightsBytes: params * 4, gradientBytes: params * 4, optimizerBytes: params * 8, activationBytes: 1024, runtimeBytes: 0, threadsBytes: 0, totalBytes: params * 16 + 1024, notes: [] }
    },
    'models:export': async ({ checkpoint, dtype }) => ({ files: [`/tmp/home/exports/${checkpoint.split('/').pop()}-${dtype}.gguf`], bytes: 4096, notes: [] }),
    // The one cross-field rule the fake knows, shaped as the real check reports it.
    'config:check': async ({ config }) =>
      typeof config.n_heads === 'number' && typeof config.n_kv_heads === 'number' && config.n_heads % config.n_kv_heads !== 0
        ? [{ key: 'n_heads', message: `n_heads ${config.n_heads} is not divisible by n_kv_heads ${config.n_kv_heads}` }]
        : [],
    'system:info': async () => ({ version: '0.1.0', home: '/tmp/home', mode: 'web', platform: 'linux', nodeVersion: 'v20', backend: null }),
    // Win rate: two blind pairs; ratings are kept per pair for the last annotator.
    'winrate:pairs': async () => ({ pairs: winratePairs.map((p) => ({ ...p, messages: [...p.messages] })) }),
    'winrate:judge': async ({ index, rating }) => {
      const pair = winratePairs.find((p) => p.index === index)
      if (!pair) throw new Error(`no pair ${index}`)
      pair.rating = rating as BlindPair['rating']
      return { judged: winratePairs.filter((p) => p.rating !== null).length, total: winratePairs.length }
    },
    'winrate:figures': async () => null,
    'rlhf:start': async (args) => {
      const runId = `run-${runs.length + 1}`
      const stage = args.method === 'ppo' || (args.method === 'rs+ppo' && args.rounds === 1) ? 'ppo' : 'rejection_sampling'
      runs.push({ ...base, id: runId, name: 'RLHF-V1', experiment: args.experiment ?? 'default', stage, status: 'running', createdAt: Date.now(), config: { policy: args.policy, safety_prompt_share: args.safetyPromptShare }, parentIds: [args.policy] })
      metrics.set(runId, [])
      const info: RlhfSequenceInfo = {
        id: `rlhf-${sequences.length + 1}`,
        status: 'running',
        method: args.method,
        rounds: args.rounds,
        policy: args.policy,
        safetyPromptShare: args.safetyPromptShare,
        startedAt: Date.now(),
        started: [{ round: 1, version: 'RLHF-V1', stage, runId, policy: args.policy }],
      }
      sequences.push(info)
      return structuredClone(info)
    },
    'rlhf:get': async ({ id }) => {
      const info = sequences.find((s) => s.id === id)
      if (!info) throw new Error(`no RLHF sequence "${id}"`)
      return structuredClone(info)
    },
    'rlhf:list': async () => structuredClone([...sequences].reverse()),
    'rlhf:cancel': async ({ id }) => {
      const info = sequences.find((s) => s.id === id)
      if (!info || info.status !== 'running') throw new Error(`RLHF sequence ${id} is not running`)
      info.status = 'cancelled'
      const current = find(info.started.at(-1)!.runId)
      current.status = 'stopped'
      emit('run:update', { id: current.id, status: 'stopped' })
      return { cancelled: true }
    },
    'leaderboard:get': async () => ({
      standings: [
        { model: 'run-a', rating: 1120, lo: 1050, hi: 1190, games: 40 },
        { model: 'run-b', rating: 880, lo: 810, hi: 950, games: 40 },
      ],
      comparisons: 1,
    }),
  }

  // Record every call that got past validation.
  for (const channel of Object.keys(handlers) as Channel[]) {
    const inner = handlers[channel] as (a: unknown) => Promise<unknown>
    ;(handlers as Record<string, unknown>)[channel] = async (args: unknown) => {
      calls.push({ channel, args })
      return inner(args)
    }
  }
  return { handlers, hub, calls, runs, metrics, annotations: annotations.state, safety: safety.state }
}

/** A WorkbenchApi over handlers, validating like the real transports do (for renderer tests). */
export function apiFromHandlers(handlers: ApiHandlers, hub: EventHub): WorkbenchApi {
  const api: Record<string, unknown> = {}
  for (const [method, channel] of Object.entries(CHANNELS)) {
    api[method] = (args?: unknown) => dispatch(handlers, channel, args).then((r) => structuredClone(r))
  }
  api.on = (event: string, listener: (payload: unknown) => void) =>
    hub.subscribe((name, payload) => {
      if (name === event) listener(payload)
    })
  return api as WorkbenchApi
}
