// Reward model benchmark: training pairs/s of the reward stage's step (the trunk + score head on
// both answers of each pair, ranking loss, backward, clipping, AdamW; one thread and one thread
// per core through the gradient workers) and scoring pairs/s (core/eval/rewardScore.ts, forward
// only), on the tiny preset with random pairs of --seq tokens per answer.
//
//   node --import tsx bench/reward.ts [--backend wasm] [--pairs 8] [--seq 128] [--steps 3] [--json]
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { scoreTokenRows } from '../core/eval/rewardScore'
import { MODEL_PRESETS } from '../core/model/config'
import { ScalarHead } from '../core/model/heads'
import { Llama } from '../core/model/llama'
import { AdamW, clipByGlobalNorm } from '../core/train/adamw'
import { GradientWorkers } from '../core/train/parallel/gradientWorkers'
import { disposeStep, stepGradients } from '../core/train/parallel/dataParallel'
import { availableCores } from '../core/train/parallel/threads'
import { pairBatch, type EncodedPair } from '../core/train/rewardData'
import { rewardTask } from '../core/train/rewardTask'
import { mulberry32 } from '../core/util/random'

interface Options {
  backend: BackendPreference
  pairs: number
  seq: number
  steps: number
  json: boolean
}

export interface RewardBenchResult {
  backend: string
  device: string
  threads: number
  pairsPerStep: number
  seq: number
  trainPairsPerSec: number
  /** Scoring runs on one thread (forward only): measured on the 1-thread row, null on the others. */
  scorePairsPerSec: number | null
}

/** Random answers of seq tokens (no pad; every row its full length). */
function randomPairs(count: number, seq: number, vocab: number): EncodedPair[] {
  const rand = mulberry32(1)
  const row = () => Array.from({ length: seq }, () => Math.floor(rand() * vocab))
  return Array.from({ length: count }, () => ({ chosen: row(), rejected: row(), margin: 1 / 3, pair: undefined as never }))
}

async function benchThreads(threads: number, o: Options, info: Awaited<ReturnType<typeof initBackend>>): Promise<RewardBenchResult> {
  const cfg = { ...MODEL_PRESETS.tiny, tie_embeddings: true, max_seq_len: Math.max(o.seq, MODEL_PRESETS.tiny.max_seq_len) }
  const model = Llama.create(cfg, 0)
  const head = ScalarHead.create('reward', model.config.dim, 0)
  const params = { ...model.weights, [head.weightName]: head.weight }
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(params)
  })
  const task = rewardTask(model, head)
  const pool = threads > 1 ? await GradientWorkers.start(task.replica!, params, info.name, threads - 1) : null
  const pairs = randomPairs(o.pairs, o.seq, cfg.vocab_size)
  const batch = pairBatch(pairs, 0)
  const trainStep = async () => {
    const step = await stepGradients([batch], task, params, pool)
    try {
      tf.tidy(() => optimizer.applyGradients(clipByGlobalNorm(step.grads, 1).grads, 1e-4))
    } finally {
      disposeStep(step)
    }
  }
  await trainStep() // warm-up
  let t0 = performance.now()
  for (let i = 0; i < o.steps; i++) await trainStep()
  const trainSeconds = (performance.now() - t0) / 1000
  let scoreSeconds = NaN
  if (threads === 1) {
    const rows = pairs.flatMap((p) => [p.chosen, p.rejected])
    await scoreTokenRows({ model, head }, rows.slice(0, 2), 16, 0) // warm-up
    t0 = performance.now()
    for (let i = 0; i < o.steps; i++) await scoreTokenRows({ model, head }, rows, 16, 0)
    scoreSeconds = (performance.now() - t0) / 1000
  }
  optimizer.dispose()
  await pool?.close()
  model.dispose()
  head.dispose()
  return {
    backend: info.name,
    device: info.device,
    threads,
    pairsPerStep: o.pairs,
    seq: o.seq,
    trainPairsPerSec: Math.round(((o.pairs * o.steps) / trainSeconds) * 10) / 10,
    scorePairsPerSec: threads === 1 ? Math.round(((o.pairs * o.steps) / scoreSeconds) * 10) / 10 : null,
  }
}

export async function runRewardBench(o: Options): Promise<RewardBenchResult[]> {
  const info = await initBackend(o.backend)
  const counts = [...new Set([1, info.name === 'wasm' || info.name === 'cpu' ? availableCores() : 1])]
  const out: RewardBenchResult[] = []
  for (const threads of counts) out.push(await benchThreads(threads, o, info))
  return out
}

function parseArgs(argv: string[]): Options {
  const o: Options = { backend: 'auto' as BackendPreference, pairs: 8, seq: 128, steps: 3, json: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => argv[++i] ?? ''
    if (arg === '--json') o.json = true
    else if (arg === '--backend') o.backend = next() as BackendPreference
    else if (arg === '--pairs') o.pairs = Number(next())
    else if (arg === '--seq') o.seq = Number(next())
    else if (arg === '--steps') o.steps = Number(next())
    else throw new Error(`unknown option ${arg} (known: --backend, --pairs, --seq, --steps, --json)`)
  }
  return o
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2))
  const results = await runRewardBench(o)
  if (o.json) console.log(JSON.stringify({ results }, null, 2))
  else {
    console.log(`reward model (tiny preset + score head), ${o.pairs} pairs x 2 answers x ${o.seq} tokens per step`)
    for (const r of results) console.log(`  ${r.backend} (${r.device}), ${r.threads} thread(s): training ${r.trainPairsPerSec} pairs/s${r.scorePairsPerSec === null ? '' : `, scoring ${r.scorePairsPerSec} pairs/s`}`)
  }
}
