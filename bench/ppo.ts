// PPO benchmark: the time of one PPO iteration split between rollout (batched generation, the
// policy's and the reference's forward pass, scoring, GAE) and learning (the PPO epochs over
// minibatches), as the loop itself measures them (time/rollout_s, time/learn_s). Tiny preset,
// a random (untrained) policy and a toy score (response length), so only the machinery is timed;
// a random policy rarely stops early, so every response runs the full --gen-tokens.
//
//   node --import tsx bench/ppo.ts [--backend wasm] [--batch 8] [--gen-tokens 32] [--steps 2] [--json]
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { resolveConfig } from '../core/config/schema'
import { saveCheckpoint } from '../core/model/checkpoint'
import { MODEL_PRESETS } from '../core/model/config'
import { ScalarHead } from '../core/model/heads'
import { Llama } from '../core/model/llama'
import { loadModel } from '../core/model/load'
import { ppoLoop } from '../core/rl/ppoLoop'
import { Tokenizer } from '../core/tokenizer'
import { MemoryTracker } from '../core/tracking/tracker'
import { ppoPrompts, ppoSettings, ppoStage } from '../core/train/stages/ppo'
import type { PromptItem } from '../core/data/prompts'

interface Options {
  backend: BackendPreference
  batch: number
  genTokens: number
  steps: number
  json: boolean
}

export interface PpoBenchResult {
  backend: string
  device: string
  batch: number
  genTokens: number
  /** Means over the measured iterations (the first, warm-up, iteration is left out). */
  rolloutSeconds: number
  learnSeconds: number
}

const TEXT = 'the cat sat on the mat. a dog ran to the park. what is the capital of the north? one two three four five.'
const QUESTIONS = ['what sat on the mat', 'where did the dog run', 'count to five', 'name a colour', 'say one word', 'tell me a story', 'is the cat red', 'what is blue']

export async function runPpoBench(o: Options): Promise<PpoBenchResult> {
  const info = await initBackend(o.backend)
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'workbench-bench-ppo-'))
  try {
    const tokenizer = Tokenizer.train([TEXT], { vocabSize: 300 })
    const policyDir = path.join(root, 'policy')
    const created = Llama.create({ ...MODEL_PRESETS.tiny, vocab_size: tokenizer.vocabSize }, 0)
    await saveCheckpoint(policyDir, { config: created.config, weights: created.weights, tokenizer })
    created.dispose()
    const policy = loadModel(policyDir)
    const reference = loadModel(policyDir)
    const head = ScalarHead.create('value', policy.config.dim, 0)
    const items: PromptItem[] = QUESTIONS.map((q, i) => ({ id: `p${i}`, prompt: q, messages: [{ role: 'user', content: q }], tags: [], extra: {}, source: `bench:${i}` }))
    const config = resolveConfig(ppoStage.schema, { prompts: 'unused.jsonl', steps: o.steps + 1, batch_size: o.batch, mini_batch_size: Math.min(4, o.batch), max_new_tokens: o.genTokens, sample_every: 0, checkpoint_every: 0, target_kl: 0 })
    const tracker = new MemoryTracker()
    try {
      await ppoLoop({
        ctx: { runId: tracker.runId, tracker, signal: new AbortController().signal, runDir: path.join(root, 'run'), home: root, parents: [], seed: 0, backend: info, log: () => {}, progress: () => {} },
        policy: policy.model,
        reference: reference.model,
        value: { head },
        tokenizer: policy.tokenizer,
        prompts: ppoPrompts(items, policy.tokenizer, policy.config.max_seq_len).prompts,
        score: async (rollouts) => rollouts.map((r) => ({ helpful: r.response.length / o.genTokens })),
        settings: ppoSettings(config as never),
        referenceDir: policyDir,
        stage: 'ppo',
        runConfig: {},
      })
    } finally {
      policy.dispose()
      reference.dispose()
      head.dispose()
    }
    const measured = (key: string) => {
      const values = tracker.metrics.filter((m) => m.key === key && m.step > 1).map((m) => m.value)
      return Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 100) / 100
    }
    return { backend: info.name, device: info.device, batch: o.batch, genTokens: o.genTokens, rolloutSeconds: measured('time/rollout_s'), learnSeconds: measured('time/learn_s') }
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

function parseArgs(argv: string[]): Options {
  const o: Options = { backend: 'auto' as BackendPreference, batch: 8, genTokens: 32, steps: 2, json: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => argv[++i] ?? ''
    if (arg === '--json') o.json = true
    else if (arg === '--backend') o.backend = next() as BackendPreference
    else if (arg === '--batch') o.batch = Number(next())
    else if (arg === '--gen-tokens') o.genTokens = Number(next())
    else if (arg === '--steps') o.steps = Number(next())
    else throw new Error(`unknown option ${arg} (known: --backend, --batch, --gen-tokens, --steps, --json)`)
  }
  return o
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2))
  const r = await runPpoBench(o)
  if (o.json) console.log(JSON.stringify({ result: r }, null, 2))
  else {
    const total = r.rolloutSeconds + r.learnSeconds
    const share = (x: number) => `${Math.round((100 * x) / total)}%`
    console.log(`one PPO iteration (tiny preset, ${r.batch} rollouts x ${r.genTokens} new tokens, ${r.backend} on ${r.device}, mean of ${o.steps} after a warm-up):`)
    console.log(`  rollout ${r.rolloutSeconds} s (${share(r.rolloutSeconds)}), learn ${r.learnSeconds} s (${share(r.learnSeconds)}), total ${Math.round(total * 100) / 100} s`)
  }
}
