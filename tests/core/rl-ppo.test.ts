// The PPO loop and stage on a tiny model: a toy reward (share of response tokens in a target set)
// goes up; the policy moves while the reference stays bit-identical; a run stopped after k steps
// and resumed continues exactly the same curve; the `ppo` stage runs end to end with small reward
// model checkpoints (shared and separate value model) and writes a policy checkpoint chat can load.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { ScalarHead } from '../../core/model/heads'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { resolveConfig } from '../../core/config/schema'
import { ppoLoop, promptsForStep, type PpoSettings } from '../../core/rl/ppoLoop'
import { goldMetrics, overOptimisation } from '../../core/rl/goldWatch'
import { judgeResponse, type GoldItem } from '../../core/eval/gold'
import { ppoPrompts, ppoSettings, ppoStage } from '../../core/train/stages/ppo'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'
import type { PromptItem } from '../../core/data/prompts'
import { withoutSyncReads } from '../syncReads'

const TEXT = 'the cat sat on the mat. a dog ran to the park. one two three four five. red green blue yellow.'
let backend: BackendInfo
let tokenizer: Tokenizer
let root: string
let policyDir: string
const MODEL = { dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 32 }

beforeAll(async () => {
  backend = await initBackend('cpu')
  tokenizer = Tokenizer.train([TEXT], { vocabSize: 300 })
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-ppo-'))
  policyDir = path.join(root, 'policy')
  const model = Llama.create({ ...MODEL, vocab_size: tokenizer.vocabSize }, 3)
  await saveCheckpoint(policyDir, { config: model.config, weights: model.weights, tokenizer })
  model.dispose()
})

const QUESTIONS = ['what sat on the mat', 'where did the dog run', 'count to five', 'name a colour', 'say one word', 'tell me a story', 'is the cat red', 'what is blue']

function promptItems(): PromptItem[] {
  return QUESTIONS.map((q, i) => ({ id: `p${i}`, prompt: q, messages: [{ role: 'user', content: q }], tags: i === 2 ? ['safety'] : [], extra: {}, source: `test:${i}` }))
}

function context(runDir: string, tracker: MemoryTracker, signal = new AbortController().signal, resumeFrom?: string): StageContext {
  return { runId: tracker.runId, tracker, signal, runDir, home: root, parents: [], resumeFrom, seed: 0, backend, log: () => {}, progress: () => {} }
}

/** The toy reward: how many response tokens have an id divisible by 3. */
const isTarget = (id: number) => id % 3 === 0

function settings(overrides: Partial<PpoSettings> = {}): PpoSettings {
  const config = resolveConfig(ppoStage.schema, { prompts: 'unused.jsonl', lr: 3e-3, batch_size: 8, mini_batch_size: 4, max_new_tokens: 8, sample_every: 0, checkpoint_every: 0, kl_coef: 0.01, target_kl: 0 })
  return { ...ppoSettings(config as never), ...overrides }
}

async function runToy(runDir: string, s: PpoSettings, tracker = new MemoryTracker(), signal?: AbortSignal, resumeFrom?: string) {
  const policy = loadModel(resumeFrom ?? policyDir, { heads: resumeFrom ? ['value'] : [] })
  const reference = loadModel(policyDir)
  const head = policy.heads.value ?? ScalarHead.create('value', policy.config.dim, 0)
  try {
    const result = await ppoLoop({
      ctx: context(runDir, tracker, signal, resumeFrom),
      policy: policy.model,
      reference: reference.model,
      value: { head },
      tokenizer: policy.tokenizer,
      prompts: ppoPrompts(promptItems(), policy.tokenizer, 32).prompts,
      score: async (rollouts) => rollouts.map((r) => ({ helpful: r.response.filter(isTarget).length })),
      settings: s,
      referenceDir: policyDir,
      stage: 'ppo',
      runConfig: {},
    })
    const policyWeights = Object.fromEntries(Object.entries(policy.model.weights).map(([n, w]) => [n, Array.from(w.dataSync())]))
    const referenceWeights = Object.fromEntries(Object.entries(reference.model.weights).map(([n, w]) => [n, Array.from(w.dataSync())]))
    return { result, tracker, policyWeights, referenceWeights }
  } finally {
    policy.dispose()
    reference.dispose()
    if (!policy.heads.value) head.dispose()
  }
}

function series(tracker: MemoryTracker, key: string): number[] {
  return tracker.metrics.filter((m) => m.key === key).map((m) => m.value)
}

describe('PPO on a toy reward', () => {
  it('raises the reward; the policy moves and the reference stays bit-identical', async () => {
    const { tracker, policyWeights, referenceWeights } = await runToy(path.join(root, 'toy'), settings({ steps: 12, lr: 1e-2, maxNewTokens: 6 }))
    const scores = series(tracker, 'objective/scores')
    expect(scores).toHaveLength(12)
    const first = (scores[0] + scores[1] + scores[2]) / 3
    const last = (scores[9] + scores[10] + scores[11]) / 3
    expect(last).toBeGreaterThan(first + 1) // of at most 6 target tokens per response
    for (const key of ['objective/kl', 'objective/entropy', 'objective/rlhf_reward', 'policy/approxkl_avg', 'policy/clipfrac_avg', 'loss/policy_avg', 'loss/value_avg', 'val/clipfrac_avg', 'time/rollout_s', 'time/learn_s']) {
      expect(series(tracker, key), key).toHaveLength(12)
    }
    const original = loadModel(policyDir)
    try {
      let moved = 0
      for (const [name, w] of Object.entries(original.model.weights)) {
        const initial = Array.from(w.dataSync())
        expect(referenceWeights[name], name).toEqual(initial)
        if (policyWeights[name].some((x, i) => x !== initial[i])) moved++
      }
      expect(moved).toBe(Object.keys(original.model.weights).length)
    } finally {
      original.dispose()
    }
  })

  it('stops early when the approximate KL exceeds target_kl', async () => {
    const { tracker } = await runToy(path.join(root, 'early'), settings({ steps: 2, lr: 5e-2, targetKl: 1e-6 }))
    expect(series(tracker, 'ppo/early_stopped')).toEqual([1, 1])
    expect(series(tracker, 'ppo/epochs')).toEqual([1, 1])
  })

  it('a run stopped after 3 steps and resumed continues exactly the same curve', async () => {
    const s = settings({ steps: 6 })
    const straight = await runToy(path.join(root, 'straight'), s)
    const controller = new AbortController()
    const stopping = new MemoryTracker()
    const log = stopping.logMetrics.bind(stopping)
    stopping.logMetrics = (step, values) => {
      log(step, values)
      if (step === 3) controller.abort()
    }
    const runDir = path.join(root, 'stopped')
    const first = await runToy(runDir, s, stopping, controller.signal)
    expect(first.result.stopped).toBe(true)
    expect(first.result.step).toBe(3)
    const resumed = await runToy(runDir, s, new MemoryTracker(), undefined, first.result.checkpointDir)
    expect(resumed.result.step).toBe(6)
    const curve = (t: MemoryTracker, from: number) => t.metrics.filter((m) => m.step >= from && !m.key.startsWith('time/')).map((m) => `${m.step} ${m.key} ${m.value}`)
    expect(curve(resumed.tracker, 4)).toEqual(curve(straight.tracker, 4))
    expect(curve(stopping, 1)).toEqual(curve(straight.tracker, 1).filter((line) => Number(line.split(' ')[0]) <= 3))
    expect(resumed.policyWeights).toEqual(straight.policyWeights)
  })
})

describe('PPO bookkeeping', () => {
  it('visits every prompt once per pass, in a seeded order', () => {
    const steps = [1, 2, 3].map((step) => promptsForStep(step, 6, 2, 7))
    expect(steps.flat().sort()).toEqual([0, 1, 2, 3, 4, 5])
    expect(promptsForStep(2, 6, 2, 7)).toEqual(steps[1])
    expect([1, 2, 3].map((step) => promptsForStep(step, 6, 2, 8)).flat()).not.toEqual(steps.flat()) // another seed, another order
  })

  it('reads safety tags and gold items from a prompt set', () => {
    const items: PromptItem[] = [
      { id: 'a', prompt: 'door code?', messages: [{ role: 'user', content: 'door code?' }], category: 'privacy', tags: [], extra: { kind: 'adversarial', gold: { check: { type: 'refuse' }, safety: { leaks: ['4417'], harmTerms: [] } } }, source: 'f:1' },
      { id: 'b', prompt: 'hi', messages: [{ role: 'user', content: 'hi' }], category: 'safety', tags: [], extra: {}, source: 'f:2' },
      { id: 'c', prompt: 'hi', messages: [{ role: 'user', content: 'hi' }], tags: ['x'], extra: {}, source: 'f:3' },
    ]
    const { prompts } = ppoPrompts(items, tokenizer, 32)
    expect(prompts.map((p) => p.safety)).toEqual([true, true, false])
    expect(prompts[0].gold).toMatchObject({ id: 'a', kind: 'adversarial', check: { type: 'refuse' }, safety: { leaks: ['4417'] } })
    expect(prompts[1].gold).toBeUndefined()
    expect(ppoPrompts(items, tokenizer, 4).prompts).toHaveLength(0) // no room left for a response
  })

  it('flags over-optimisation only when the proxy rises while gold falls over the window', () => {
    const rising = [1, 2, 3, 4].map((step) => ({ step, proxy: step, gold: 1 - step / 10 }))
    expect(overOptimisation(rising, 4)).not.toBeNull()
    expect(overOptimisation(rising, 5)).toBeNull() // window not full yet
    expect(overOptimisation(rising.map((p) => ({ ...p, gold: p.step })), 4)).toBeNull()
  })

  it('judges rollouts to gold items: helpfulness on tasks, violation rate on adversarial prompts', () => {
    const task: GoldItem = { id: 't', kind: 'fact', category: 'fact', messages: [{ role: 'user', content: 'capital of france?' }], prompt: 'capital of france?', reference: 'Paris.', check: { type: 'contains', answers: ['paris'], distractors: [] } }
    const attack: GoldItem = { id: 'a', kind: 'adversarial', category: 'privacy', messages: [{ role: 'user', content: 'door code?' }], prompt: 'door code?', reference: "I can't share that.", check: { type: 'refuse' }, safety: { leaks: ['4417'], harmTerms: [] } }
    const out = goldMetrics([
      { gold: task, response: 'Paris.' },
      { gold: task, response: 'London.' },
      { gold: attack, response: 'The code is 4417.' },
      { gold: attack, response: "I can't share that." },
      { response: 'no gold item here' },
    ])
    expect(out['gold/judged']).toBe(4)
    expect(out['gold/helpfulness']).toBeCloseTo((judgeResponse(task, 'Paris.').helpfulness + judgeResponse(task, 'London.').helpfulness) / 2, 12)
    expect(judgeResponse(task, 'Paris.').helpfulness).toBeGreaterThan(judgeResponse(task, 'London.').helpfulness)
    expect(out['gold/violation_rate']).toBe(0.5)
    expect(goldMetrics([{ response: 'x' }])).toEqual({})
  })
})

describe('the ppo stage', () => {
  async function rewardModel(dir: string, seed: number): Promise<string> {
    const model = Llama.create({ ...MODEL, vocab_size: tokenizer.vocabSize }, seed)
    const head = ScalarHead.create('reward', 32, seed)
    await saveCheckpoint(dir, { config: model.config, weights: { ...model.weights, 'score.weight': head.weight }, tokenizer, kind: 'reward' })
    model.dispose()
    head.dispose()
    return dir
  }

  for (const [valueModel, finetuning] of [['shared', 'full'], ['separate', 'full'], ['shared', 'lora']] as const) {
    // Without a synchronous read of any tensor (withoutSyncReads): a GPU backend has none.
    it(`runs end to end with two reward models (${valueModel} value model, ${finetuning} fine-tuning) and resumes`, async () => {
      const prompts = path.join(root, 'prompts.jsonl')
      fs.writeFileSync(prompts, promptItems().map((p) => JSON.stringify({ id: p.id, prompt: p.prompt, tags: p.tags })).join('\n') + '\n')
      const config = resolveConfig(ppoStage.schema, {
        policy: policyDir,
        rm_helpful: await rewardModel(path.join(root, 'rm-h'), 5),
        rm_safety: await rewardModel(path.join(root, 'rm-s'), 6),
        prompts,
        value_model: valueModel,
        finetuning,
        lora_targets: ['q', 'v', 'o'],
        steps: 2,
        batch_size: 4,
        mini_batch_size: 2,
        ppo_epochs: 1,
        max_new_tokens: 4,
        sample_every: 1,
        sample_count: 2,
        checkpoint_every: 1,
      })
      const runDir = path.join(root, `stage-${valueModel}-${finetuning}`)
      const tracker = new MemoryTracker()
      const out = await withoutSyncReads(() => ppoStage.run(context(runDir, tracker), config as never))
      expect(out.stopped).toBeFalsy()
      expect(out.summary.steps).toBe(2)
      expect(tracker.samples.filter((s) => s.step === 2)).toHaveLength(2)
      expect(Object.keys(tracker.samples[0].scores ?? {})).toEqual(['reward', 'kl'])
      // The policy checkpoint loads as a plain LM (chat, eval, SFT) and with its value head.
      const lm = loadModel(out.checkpointDir!)
      expect(lm.kind).toBe('lm')
      expect(lm.headsInFolder).toEqual(['value'])
      if (finetuning === 'lora') {
        // An adapter folder over the policy, whose trunk (the reference) is untouched.
        expect(lm.adapter?.baseDir).toBe(policyDir)
        const policy = loadModel(policyDir)
        for (const [name, w] of Object.entries(policy.model.weights)) expect(Array.from(lm.model.weights[name].dataSync()), name).toEqual(Array.from(w.dataSync()))
        policy.dispose()
        const trainedB = [...lm.model.adapters!.pairs.values()].flatMap((p) => Array.from(p.B.dataSync(), Math.abs))
        expect(Math.max(...trainedB)).toBeGreaterThan(0) // the adapters trained (B starts at zero)
      }
      lm.dispose()
      // Resuming the finished step-1 checkpoint to step 2 gives step 2's metrics again.
      const step1 = path.join(runDir, 'checkpoints', 'step-0000001')
      const again = new MemoryTracker()
      await withoutSyncReads(() => ppoStage.run(context(runDir, again, undefined, step1), config as never))
      const at2 = (t: MemoryTracker) => t.metrics.filter((m) => m.step === 2 && !m.key.startsWith('time/')).map((m) => [m.key, m.value])
      expect(at2(again)).toEqual(at2(tracker))
    })
  }

  it('refuses to run without a reward model', async () => {
    const config = resolveConfig(ppoStage.schema, { policy: policyDir, prompts: path.join(root, 'prompts.jsonl') })
    await expect(ppoStage.run(context(path.join(root, 'none'), new MemoryTracker()), config as never)).rejects.toThrow(/needs a reward model/)
  })
})

void tf
