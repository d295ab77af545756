// Model benchmark: per backend and preset, training tokens/s and ms/step (forward + backward + an
// Adam update), peak memory, and greedy generation tokens/s with and without the KV cache; with
// the PyTorch reference (bench/torch_reference.py) side by side when Debian's torch is present.
//
//   node --import tsx bench/model.ts [--preset tiny|small] [--backend wasm|cpu|node|node-gpu]
//                                    [--steps 3] [--gen-tokens 120] [--no-torch] [--json]
//
// Without --backend it runs every available backend except the pure-JS cpu one (20-50x slower;
// ask for it with --backend cpu).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { countParameters, MODEL_PRESETS } from '../core/model/config'
import { generate } from '../core/model/generate'
import { mulberry32 } from '../core/util/random'
import { Llama } from '../core/model/llama'

export type PresetName = keyof typeof MODEL_PRESETS

export interface ModelBenchOptions {
  presets?: PresetName[]
  backends?: BackendPreference[]
  /** Measured training steps (after one warm-up step). */
  steps?: number
  /** Default: BENCH_BATCH of the preset. */
  batch?: number
  genTokens?: number
  /** Run bench/torch_reference.py for the same preset (when /usr/bin/python3 has torch). */
  torch?: boolean
  log?: (line: string) => void
}

export interface ModelBenchResult {
  preset: PresetName
  backend: string
  device: string
  parameters: number
  batch: number
  seq: number
  msPerStep: number
  trainTokensPerSec: number
  /** Tokens per second of this process's CPU time: steadier than wall time on a shared machine. */
  trainTokensPerCpuSec: number
  /** Peak bytes of live tensors during one training step (tf.profile's peakBytes). */
  peakTensorBytes: number
  /** Largest process resident set seen (includes the wasm heap, which never shrinks). */
  peakRssBytes: number
  genTokensPerSecCache: number
  genTokensPerCpuSecCache: number
  genTokensPerSecNoCache: number
  finalLoss: number
}

export interface TorchReferenceResult {
  preset: string
  framework: string
  blas: string
  torch_threads: number
  OPENBLAS_NUM_THREADS: string | null
  ms_per_step: number
  train_tokens_per_s: number
  gen_tokens_per_s_kv_cache: number
}

/**
 * Batch per preset. small uses 8: at batch 16 x 256 tokens its activations for the backward pass
 * pass the 4 GB limit of the 32-bit wasm heap (batch 8 peaks at about 3 GB); training loops should
 * use micro-batches with gradient accumulation there.
 */
export const BENCH_BATCH: Record<PresetName, number> = { tiny: 16, small: 8 }

const PYTHON = '/usr/bin/python3'
const TORCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_reference.py')

/** Backends that really initialise here (an explicit native choice that fell back does not count). */
export async function availableBackends(includeCpu: boolean): Promise<BackendPreference[]> {
  const found: BackendPreference[] = []
  for (const pref of ['node-gpu', 'node', 'wasm', 'cpu'] as BackendPreference[]) {
    if (pref === 'cpu' && !includeCpu) continue
    const info = await initBackend(pref)
    const expected = pref === 'node-gpu' || pref === 'node' ? 'tensorflow' : pref
    if (info.name === expected && !(pref === 'node' && found.includes('node-gpu'))) found.push(pref)
  }
  return found
}

function randomBatch(batch: number, seq: number, vocab: number, seed: number): { tokens: tf.Tensor2D; targets: tf.Tensor2D } {
  const rand = mulberry32(seed)
  const rows = Array.from({ length: batch }, () => Array.from({ length: seq + 1 }, () => Math.floor(rand() * vocab)))
  return {
    tokens: tf.tensor2d(rows.map((r) => r.slice(0, seq)), [batch, seq], 'int32'),
    targets: tf.tensor2d(rows.map((r) => r.slice(1)), [batch, seq], 'int32'),
  }
}

interface BenchSettings {
  steps: number
  batch: number
  genTokens: number
}

async function benchOne(preset: PresetName, backend: BackendPreference, opts: BenchSettings): Promise<ModelBenchResult> {
  const info = await initBackend(backend)
  const cfg = MODEL_PRESETS[preset]
  const seq = cfg.max_seq_len
  const model = Llama.create(cfg, 0)
  const optimizer = tf.train.adam(1e-3, 0.9, 0.95, 1e-5)
  const { tokens, targets } = randomBatch(opts.batch, seq, cfg.vocab_size, 1)
  let peakTensorBytes = 0
  let peakRssBytes = 0
  const sampleMemory = () => {
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss)
  }
  const trainStep = (): number => {
    const loss = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets))
      optimizer.applyGradients(grads as unknown as Parameters<typeof optimizer.applyGradients>[0])
      return value
    })
    const value = loss.dataSync()[0]
    loss.dispose()
    return value
  }
  trainStep() // warm-up: kernel set-up, optimizer moments
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  let finalLoss = NaN
  for (let i = 0; i < opts.steps; i++) finalLoss = trainStep()
  const msPerStep = (performance.now() - t0) / opts.steps
  const cpuMsPerStep = cpuMs(cpu0) / opts.steps
  // One more, untimed step under tf.profile for the peak of live tensors (activations + grads).
  peakTensorBytes = (await tf.profile(() => void trainStep())).peakBytes
  sampleMemory()
  optimizer.dispose()
  tf.dispose([tokens, targets])

  const prompt = [1, 2, 3, 4, 5, 6, 7, 8]
  const newTokens = Math.min(opts.genTokens, seq - prompt.length)
  const genRate = async (useCache: boolean) => {
    // Warm-up long enough for V8 to optimise the per-token JavaScript and XNNPACK to pack weights.
    await generate(model, prompt, { maxNewTokens: Math.min(32, newTokens), temperature: 0, useCache })
    const start = performance.now()
    const cpuStart = process.cpuUsage()
    const out = await generate(model, prompt, { maxNewTokens: newTokens, temperature: 0, useCache })
    return { wall: out.ids.length / ((performance.now() - start) / 1000), cpu: out.ids.length / (cpuMs(cpuStart) / 1000) }
  }
  const withCache = await genRate(true)
  const withoutCache = await genRate(false)
  sampleMemory()
  model.dispose()
  return {
    preset,
    backend: info.name,
    device: info.device,
    parameters: countParameters(cfg),
    batch: opts.batch,
    seq,
    msPerStep: Math.round(msPerStep),
    trainTokensPerSec: Math.round((opts.batch * seq) / (msPerStep / 1000)),
    trainTokensPerCpuSec: Math.round((opts.batch * seq) / (cpuMsPerStep / 1000)),
    peakTensorBytes,
    peakRssBytes,
    genTokensPerSecCache: Math.round(withCache.wall),
    genTokensPerCpuSecCache: Math.round(withCache.cpu),
    genTokensPerSecNoCache: Math.round(withoutCache.wall),
    finalLoss,
  }
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

/**
 * Runs bench/torch_reference.py with OpenBLAS single-threaded (TFJS-NOTES.md) and torch at one
 * thread and at one per core, and keeps the faster training run: on a busy machine two torch
 * threads can be several times slower than one.
 */
export function runTorchReference(preset: PresetName, steps: number, genTokens: number, batch: number): TorchReferenceResult | null {
  if (!fs.existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch']).status !== 0) return null
  const cores = os.availableParallelism?.() ?? os.cpus().length
  let best: TorchReferenceResult | null = null
  for (const threads of [...new Set([1, cores])]) {
    const run = spawnSync(PYTHON, [TORCH_SCRIPT, '--preset', preset, '--threads', String(threads), '--steps', String(steps), '--gen-tokens', String(genTokens), '--batch', String(batch)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    })
    if (run.status !== 0) throw new Error(`torch_reference.py failed:\n${run.stderr}`)
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as TorchReferenceResult
    if (!best || result.train_tokens_per_s > best.train_tokens_per_s) best = result
  }
  return best
}

export async function runModelBench(options: ModelBenchOptions = {}): Promise<{ results: ModelBenchResult[]; torch: TorchReferenceResult[] }> {
  const log = options.log ?? (() => {})
  const steps = options.steps ?? 3
  const genTokens = options.genTokens ?? 120
  const presets = options.presets ?? ['tiny', 'small']
  const backends = options.backends ?? (await availableBackends(false))
  const results: ModelBenchResult[] = []
  const torch: TorchReferenceResult[] = []
  for (const preset of presets) {
    const batch = options.batch ?? BENCH_BATCH[preset]
    for (const backend of backends) {
      log(`model bench: ${preset} on ${backend} (batch ${batch}) ...`)
      results.push(await benchOne(preset, backend, { steps, batch, genTokens }))
    }
    if (options.torch ?? true) {
      log(`model bench: ${preset} with PyTorch ...`)
      const ref = runTorchReference(preset, steps, genTokens, batch)
      if (ref) torch.push(ref)
    }
  }
  return { results, torch }
}

function formatTable(results: ModelBenchResult[], torch: TorchReferenceResult[]): string {
  const mb = (b: number) => `${Math.round(b / 2 ** 20)} MB`
  const lines = ['preset  backend      params   ms/step  train tok/s (per CPU s)  x torch  gen tok/s cache (per CPU s) / none  peak tensors  peak RSS']
  for (const r of results) {
    const ref = torch.find((t) => t.preset === r.preset)
    const ratio = ref ? (r.trainTokensPerSec / ref.train_tokens_per_s).toFixed(2) : '-'
    lines.push(
      `${r.preset.padEnd(7)} ${r.backend.padEnd(11)} ${(r.parameters / 1e6).toFixed(2).padStart(6)}M ${String(r.msPerStep).padStart(8)} ${`${r.trainTokensPerSec} (${r.trainTokensPerCpuSec})`.padStart(24)} ${ratio.padStart(8)} ${`${r.genTokensPerSecCache} (${r.genTokensPerCpuSecCache}) / ${r.genTokensPerSecNoCache}`.padStart(34)} ${mb(r.peakTensorBytes).padStart(13)} ${mb(r.peakRssBytes).padStart(9)}`,
    )
  }
  for (const t of torch) {
    lines.push(`${t.preset.padEnd(7)} ${'torch'.padEnd(11)} ${''.padStart(7)} ${String(Math.round(t.ms_per_step)).padStart(8)} ${String(t.train_tokens_per_s).padStart(24)} ${'1.00'.padStart(8)} ${`${t.gen_tokens_per_s_kv_cache} / -`.padStart(34)}   (${t.framework}, ${t.blas}, torch threads ${t.torch_threads}, OPENBLAS_NUM_THREADS=${t.OPENBLAS_NUM_THREADS})`)
  }
  return lines.join('\n')
}

function parseArgs(argv: string[]): ModelBenchOptions & { json: boolean } {
  const out: ModelBenchOptions & { json: boolean } = { json: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    if (arg === '--json') out.json = true
    else if (arg === '--no-torch') out.torch = false
    else if (arg === '--preset') {
      const p = next()
      if (!(p in MODEL_PRESETS)) throw new Error(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${p}`)
      out.presets = [p as PresetName]
    } else if (arg === '--backend') out.backends = [next() as BackendPreference]
    else if (arg === '--steps') out.steps = Number(next())
    else if (arg === '--batch') out.batch = Number(next())
    else if (arg === '--gen-tokens') out.genTokens = Number(next())
    else throw new Error(`unknown option ${arg} (known: --preset, --backend, --steps, --batch, --gen-tokens, --no-torch, --json)`)
  }
  return out
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2))
  const { results, torch } = await runModelBench({ ...args, log: args.json ? undefined : (l) => console.error(l) })
  console.log(args.json ? JSON.stringify({ results, torch }, null, 2) : formatTable(results, torch))
}
