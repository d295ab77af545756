// Model benchmark: per backend and case (preset x sequence length), training tokens/s and ms/step
// of the training loop's own step (forward + backward + clipping + AdamW) on one thread and with
// one thread per core, in both thread modes (core/train/parallel/threads.ts: threads inside the
// native matmul with one model, or data-parallel gradient workers with a replica each); the
// fraction of the machine's peak FLOP/s the step reaches (the peak measured here, bench/peakFlops.ts);
// peak memory, checked against bench/baseline.json (bench/baseline.ts: more than 10% above fails);
// and greedy generation tokens/s with and without the KV cache; with the PyTorch reference
// (bench/torch_reference.py) side by side, at its best thread setting, when Debian's torch is present.
//
//   node --import tsx bench/model.ts [--preset tiny|small] [--seq 1024] [--backend wasm|cpu|node|node-gpu]
//                                    [--threads 1,2] [--modes kernel,workers] [--steps 5] [--min-seconds 3]
//                                    [--gen-tokens 120] [--no-torch] [--save-baseline] [--json]
//
// Without --preset and --seq the cases are tiny, small, and tiny at sequence 1024 (batch cut to
// keep the tokens per step, where attention's share of the work grows). Each row runs in its own
// process, so its peak RSS is its own. Without --backend it runs every available backend except
// the pure-JS cpu one (20-50x slower; ask for it with --backend cpu).
//
// Each row times its steps one by one, at least --steps of them and for at least --min-seconds,
// and reports the MEDIAN step (PyTorch's reference the same way): on a shared virtual machine a
// few steps slowed by a neighbour, or the first steps after warm-up, moved a mean of three steps by
// 15% between runs, and the second core's ratio with it.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { countParameters, MODEL_PRESETS } from '../core/model/config'
import { generate } from '../core/model/generate'
import { mulberry32 } from '../core/util/random'
import { Llama } from '../core/model/llama'
import { AdamW, clipCoefficient } from '../core/train/adamw'
import { nativeMatMulActive, setNativeMatMulThreads } from '../core/backend/kernels/nativeMatMul'
import type { ThreadMode } from '../core/train/stages/common'
import { measurePeakGflops, trainingStepFlops } from './peakFlops'
import { rssRegressions, saveBaseline, type BaselineRow } from './baseline'
import type { Batch } from '../core/train/batches'
import { GradientWorkers } from '../core/train/parallel/gradientWorkers'
import { disposeStep, stepGradients } from '../core/train/parallel/dataParallel'
import { languageModelTask } from '../core/train/languageModel'
import { availableCores, threadPlan } from '../core/train/parallel/threads'

export type PresetName = keyof typeof MODEL_PRESETS

export interface ModelBenchOptions {
  presets?: PresetName[]
  /** Sequence length for every preset; default: each preset's own, plus tiny at 1024. */
  seq?: number
  backends?: BackendPreference[]
  /** Training steps measured at least (after one warm-up step). */
  steps?: number
  /** Seconds of training steps measured at least (more steps than `steps` when they are fast). */
  minSeconds?: number
  /** Default: BENCH_BATCH of the preset. */
  batch?: number
  /** Training thread counts to measure; default 1 and one per core. */
  threads?: number[]
  /** Thread modes measured for more than one thread; default both. */
  modes?: ThreadMode[]
  genTokens?: number
  /** Run bench/torch_reference.py for the same preset (when /usr/bin/python3 has torch). */
  torch?: boolean
  log?: (line: string) => void
}

export interface ModelBenchResult {
  preset: PresetName
  backend: string
  device: string
  /** Training threads (1 = the main thread only). */
  threads: number
  /** How threads beyond the first are used (kernel: inside the native matmul; workers: replicas). */
  threadMode: ThreadMode
  parameters: number
  batch: number
  seq: number
  /** The median of the measured steps' wall times (msPerStepMean beside it). */
  msPerStep: number
  msPerStepMean: number
  stepsMeasured: number
  trainTokensPerSec: number
  /** Tokens per second of this process's CPU time: steadier than wall time on a shared machine. */
  trainTokensPerCpuSec: number
  /** Peak bytes of live tensors during one training step (tf.profile's peakBytes). */
  peakTensorBytes: number
  /** Peak resident memory of the row's process through training (maxRSS; includes the wasm heap, which never shrinks). */
  peakRssBytes: number
  /** Matmul FLOP/s of a training step (bench/peakFlops.ts trainingStepFlops), in GFLOP/s. */
  stepGflops: number
  /**
   * Threads inside the kernel only: the same process alternating one-thread and all-thread steps,
   * the median one-thread step over the median all-thread step, and the pairs measured (null on
   * other rows). Drift of a shared machine between the rows' processes cancels out of this one.
   */
  alternatingSpeedup: number | null
  alternatingPairs: number
  /** The native matmul loop's GFLOP/s on as many threads (null without the addon). */
  peakGflops: number | null
  /** Generation is measured once per backend, on the 1-thread row (null on the others). */
  genTokensPerSecCache: number | null
  genTokensPerCpuSecCache: number | null
  genTokensPerSecNoCache: number | null
  finalLoss: number
}

export interface TorchReferenceResult {
  preset: string
  framework: string
  blas: string
  torch_threads: number
  batch: number
  seq: number
  /** Every thread setting tried, with its training tokens/s (the best is the headline). */
  tried?: { torch_threads: number; OPENBLAS_NUM_THREADS: string; train_tokens_per_s: number }[]
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

function randomBatch(batch: number, seq: number, vocab: number, seed: number): Batch {
  const rand = mulberry32(seed)
  const tokens = new Int32Array(batch * seq)
  const targets = new Int32Array(batch * seq)
  for (let b = 0; b < batch; b++) {
    const row = Array.from({ length: seq + 1 }, () => Math.floor(rand() * vocab))
    tokens.set(row.slice(0, seq), b * seq)
    targets.set(row.slice(1), b * seq)
  }
  return { tokens, targets, batchSize: batch, seqLen: seq }
}

/** One benchmark row: what runs in its own process. */
interface BenchRow {
  preset: PresetName
  seq: number
  batch: number
  backend: BackendPreference
  steps: number
  minSeconds: number
  genTokens: number
  threads: number
  mode: ThreadMode
}

/** The row's name in bench/baseline.json (what its peak RSS depends on). */
export function rowKey(r: { preset: string; seq: number; batch: number; backend: string; threads: number; threadMode: ThreadMode }): string {
  return `${r.preset} seq ${r.seq} batch ${r.batch} ${r.backend} ${r.threads}t ${r.threads > 1 ? r.threadMode : 'single'}`
}

async function benchOne(opts: BenchRow): Promise<Omit<ModelBenchResult, 'peakGflops'>> {
  const { preset, seq } = opts
  const info = await initBackend(opts.backend)
  const cfg = { ...MODEL_PRESETS[preset], max_seq_len: seq }
  const model = Llama.create(cfg, 0)
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(model.weights)
  })
  const task = languageModelTask(model)
  // The training loop's choice (core/train/loop.ts): threads in the kernel, or gradient workers.
  const plan = threadPlan(opts.threads, opts.mode, info.name, opts.batch, nativeMatMulActive(), true)
  setNativeMatMulThreads(plan.kernelThreads)
  const threads = plan.threads
  const pool = plan.workers > 0 ? await GradientWorkers.start(task.replica!, model.weights, info.name, plan.workers) : null
  const batch = randomBatch(opts.batch, seq, cfg.vocab_size, 1)
  let peakTensorBytes = 0
  // The training loop's step (core/train/loop.ts): mean gradient, clip at 1.0, AdamW.
  const trainStep = async (): Promise<number> => {
    const step = await stepGradients([batch], task, model.weights, pool)
    try {
      return tf.tidy(() => {
        const { scale } = clipCoefficient(step.grads, 1)
        optimizer.applyGradients(step.grads, 1e-3, scale)
        return step.loss.dataSync()[0]
      })
    } finally {
      disposeStep(step)
    }
  }
  await trainStep() // warm-up: kernel set-up, optimizer moments
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  let finalLoss = NaN
  const stepMs: number[] = []
  while (stepMs.length < opts.steps || performance.now() - t0 < opts.minSeconds * 1000) {
    const start = performance.now()
    finalLoss = await trainStep()
    stepMs.push(performance.now() - start)
  }
  const msPerStep = median(stepMs)
  const cpuMsPerStep = cpuMs(cpu0) / stepMs.length
  const alternating = plan.mode === 'kernel' && plan.kernelThreads > 1 ? await alternateThreads(trainStep, plan.kernelThreads, opts) : null
  // One more, untimed step under tf.profile for the peak of live tensors (activations + grads).
  peakTensorBytes = (await tf.profile(() => trainStep())).peakBytes
  // The kernel's high-water mark of this process, which runs this row alone: training's own peak.
  const peakRssBytes = process.resourceUsage().maxRSS * 1024
  optimizer.dispose()
  await pool?.close()
  const row = {
    preset,
    backend: info.name,
    device: info.device,
    threads,
    threadMode: plan.mode,
    parameters: countParameters(cfg),
    batch: opts.batch,
    seq,
    msPerStep: Math.round(msPerStep),
    msPerStepMean: Math.round(stepMs.reduce((a, b) => a + b, 0) / stepMs.length),
    stepsMeasured: stepMs.length,
    trainTokensPerSec: Math.round((opts.batch * seq) / (msPerStep / 1000)),
    // Of this process (all its threads): steadier than wall time on a shared machine.
    trainTokensPerCpuSec: Math.round((opts.batch * seq) / (cpuMsPerStep / 1000)),
    peakTensorBytes,
    stepGflops: Math.round(trainingStepFlops(cfg, opts.batch, seq) / (msPerStep / 1000) / 1e9),
    alternatingSpeedup: alternating && Math.round(alternating.speedup * 100) / 100,
    alternatingPairs: alternating?.pairs ?? 0,
    finalLoss,
  }
  if (threads > 1) {
    model.dispose()
    return { ...row, peakRssBytes, genTokensPerSecCache: null, genTokensPerCpuSecCache: null, genTokensPerSecNoCache: null }
  }

  const prompt = [1, 2, 3, 4, 5, 6, 7, 8]
  const newTokens = Math.min(opts.genTokens, seq - prompt.length)
  const genRate = async (useCache: boolean) => {
    // Two whole generations first, for V8 to optimise the per-token JavaScript (one of 32 tokens
    // was not enough: the timed run then still paid for compiling, and tiny's figure read 0.6-0.75x
    // PyTorch's where a warm one is ~1.3x), then the median of three timed ones.
    for (let i = 0; i < 2; i++) await generate(model, prompt, { maxNewTokens: newTokens, temperature: 0, useCache })
    const runs: { wall: number; cpu: number }[] = []
    for (let i = 0; i < 3; i++) {
      const start = performance.now()
      const cpuStart = process.cpuUsage()
      const out = await generate(model, prompt, { maxNewTokens: newTokens, temperature: 0, useCache })
      runs.push({ wall: out.ids.length / ((performance.now() - start) / 1000), cpu: out.ids.length / (cpuMs(cpuStart) / 1000) })
    }
    return { wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)) }
  }
  const withCache = await genRate(true)
  const withoutCache = await genRate(false)
  model.dispose()
  return {
    ...row,
    peakRssBytes,
    genTokensPerSecCache: Math.round(withCache.wall),
    genTokensPerCpuSecCache: Math.round(withCache.cpu),
    genTokensPerSecNoCache: Math.round(withoutCache.wall),
  }
}

/**
 * One-thread and `threads`-thread training steps alternated in this process (the order flipped
 * every pair), at least `steps` pairs and `minSeconds`: the median one-thread step over the median
 * all-thread step. Leaves the kernel on `threads` threads.
 */
async function alternateThreads(trainStep: () => Promise<number>, threads: number, opts: { steps: number; minSeconds: number }): Promise<{ speedup: number; pairs: number }> {
  const ms: Record<number, number[]> = { 1: [], [threads]: [] }
  const timed = async (count: number) => {
    setNativeMatMulThreads(count)
    const start = performance.now()
    await trainStep()
    ms[count].push(performance.now() - start)
  }
  const t0 = performance.now()
  for (let pair = 0; pair < opts.steps || performance.now() - t0 < opts.minSeconds * 1000; pair++) {
    for (const count of pair % 2 ? [threads, 1] : [1, threads]) await timed(count)
  }
  setNativeMatMulThreads(threads)
  return { speedup: median(ms[1]) / median(ms[threads]), pairs: ms[1].length }
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1000
}

/**
 * Runs bench/torch_reference.py at each thread setting worth trying and keeps the fastest
 * training run: torch threads 1 or one per core with OpenBLAS on one thread, and torch on one
 * thread with OpenBLAS on every core. Both at once oversubscribe the cores and run several times
 * slower (TFJS-NOTES.md).
 */
export function runTorchReference(preset: PresetName, steps: number, minSeconds: number, genTokens: number, batch: number, seq?: number): TorchReferenceResult | null {
  if (!fs.existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch']).status !== 0) return null
  const cores = availableCores()
  const settings = [
    { torch: 1, blas: 1 },
    { torch: cores, blas: 1 },
    { torch: 1, blas: cores },
  ].filter((x, i, all) => all.findIndex((y) => y.torch === x.torch && y.blas === x.blas) === i)
  let best: TorchReferenceResult | null = null
  const tried: NonNullable<TorchReferenceResult['tried']> = []
  for (const { torch: threads, blas } of settings) {
    const run = spawnSync(PYTHON, [TORCH_SCRIPT, '--preset', preset, '--threads', String(threads), '--steps', String(steps), '--min-seconds', String(minSeconds), '--gen-tokens', String(genTokens), '--batch', String(batch), ...(seq ? ['--seq', String(seq)] : [])], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(blas) },
    })
    if (run.status !== 0) throw new Error(`torch_reference.py failed:\n${run.stderr}`)
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as TorchReferenceResult
    tried.push({ torch_threads: threads, OPENBLAS_NUM_THREADS: String(blas), train_tokens_per_s: result.train_tokens_per_s })
    if (!best || result.train_tokens_per_s > best.train_tokens_per_s) best = result
  }
  return best && { ...best, tried }
}

/** The cases to run: each preset at its own sequence (or --seq), plus tiny at 1024 by default. */
function benchCases(options: ModelBenchOptions): { preset: PresetName; seq: number; batch: number }[] {
  const presets = options.presets ?? ['tiny', 'small']
  const cases = presets.map((preset) => ({ preset, seq: options.seq ?? MODEL_PRESETS[preset].max_seq_len }))
  if (options.seq === undefined && options.presets === undefined) cases.push({ preset: 'tiny', seq: 1024 })
  // The preset's batch at its own sequence; longer sequences keep the tokens per step (at least one row).
  return cases.map((c) => ({ ...c, batch: options.batch ?? Math.max(1, Math.round((BENCH_BATCH[c.preset] * MODEL_PRESETS[c.preset].max_seq_len) / c.seq)) }))
}

/** Runs one row in a fresh process (bench/model.ts --row), so its peak RSS is its own. */
function runRow(row: BenchRow): Omit<ModelBenchResult, 'peakGflops'> {
  const script = fileURLToPath(import.meta.url)
  const run = spawnSync(process.execPath, ['--import', 'tsx', script, '--row', JSON.stringify(row)], { encoding: 'utf8', maxBuffer: 1 << 24 })
  if (run.status !== 0) throw new Error(`model bench row ${JSON.stringify(row)} failed (exit ${run.status}):\n${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Omit<ModelBenchResult, 'peakGflops'>
}

export async function runModelBench(options: ModelBenchOptions = {}): Promise<{ results: ModelBenchResult[]; torch: TorchReferenceResult[]; peakGflops: Record<number, number | null> }> {
  const log = options.log ?? (() => {})
  const steps = options.steps ?? 5
  const minSeconds = options.minSeconds ?? 3
  const genTokens = options.genTokens ?? 120
  const threadCounts = options.threads ?? [...new Set([1, availableCores()])]
  const modes = options.modes ?? (['kernel', 'workers'] as ThreadMode[])
  const backends = options.backends ?? (await availableBackends(false))
  // The machine's peak, per thread count, before any row loads the cores.
  const peakGflops: Record<number, number | null> = {}
  for (const threads of threadCounts) {
    log(`model bench: peak native matmul GFLOP/s on ${threads} thread(s) ...`)
    peakGflops[threads] = measurePeakGflops(threads)
  }
  const results: ModelBenchResult[] = []
  const torch: TorchReferenceResult[] = []
  for (const { preset, seq, batch } of benchCases(options)) {
    for (const backend of backends) {
      for (const threads of threadCounts) {
        // Native backends thread by themselves: one row each.
        if (threads > 1 && (backend === 'node' || backend === 'node-gpu')) continue
        for (const mode of threads > 1 ? modes : (['kernel'] as ThreadMode[])) {
          log(`model bench: ${preset} seq ${seq} on ${backend}, ${threads} thread(s)${threads > 1 ? ` (${mode})` : ''} (batch ${batch}) ...`)
          const row = runRow({ preset, seq, batch, backend, steps, minSeconds, genTokens, threads, mode })
          // Without the native matmul both modes are workers: keep one row.
          if (results.some((r) => rowKey(r) === rowKey({ ...row, seq }))) continue
          results.push({ ...row, peakGflops: peakGflops[row.threads] ?? null })
        }
      }
    }
    if (options.torch ?? true) {
      log(`model bench: ${preset} seq ${seq} with PyTorch ...`)
      const ref = runTorchReference(preset, steps, minSeconds, genTokens, batch, seq)
      if (ref) torch.push(ref)
    }
  }
  return { results, torch, peakGflops }
}

/**
 * What the threads beyond the first add, per case and backend: training tokens/s with all of
 * them over one thread's (issue 16's target: at least 1.7x from a second core), per thread mode.
 */
export function secondCoreLines(results: Pick<ModelBenchResult, 'preset' | 'seq' | 'backend' | 'threads' | 'threadMode' | 'trainTokensPerSec' | 'stepsMeasured' | 'alternatingSpeedup' | 'alternatingPairs'>[]): string[] {
  const lines: string[] = []
  for (const one of results.filter((r) => r.threads === 1)) {
    const more = results.filter((r) => r.threads > 1 && r.preset === one.preset && r.seq === one.seq && r.backend === one.backend)
    if (more.length === 0) continue
    const ratios = more.map((r) => `${(r.trainTokensPerSec / one.trainTokensPerSec).toFixed(2)}x on ${r.threads} threads (${r.threadMode})`)
    const alternated = more.filter((r) => r.alternatingSpeedup !== null).map((r) => `; alternating 1 and ${r.threads} threads step by step in one process: ${r.alternatingSpeedup!.toFixed(2)}x (${r.alternatingPairs} pairs)`)
    lines.push(`${one.preset} seq ${one.seq} ${one.backend}: ${ratios.join(', ')} over 1 thread (median steps of ${[one, ...more].map((r) => r.stepsMeasured).join(' / ')} measured)${alternated.join('')}`)
  }
  return lines
}

function formatTable(results: ModelBenchResult[], torch: TorchReferenceResult[], peakGflops: Record<number, number | null>): string {
  const mb = (b: number) => `${Math.round(b / 2 ** 20)} MB`
  const ratio = (ours: number | null, theirs: number | undefined) => (ours !== null && theirs ? (ours / theirs).toFixed(2) : '-')
  const peaks = Object.entries(peakGflops).map(([t, g]) => `${t} thread(s) ${g === null ? '- (no native matmul)' : `${Math.round(g)} GFLOP/s`}`)
  const lines = [
    `peak (native matmul loop, 512^3): ${peaks.join(', ')}`,
    'preset  seq   backend   threads mode     params  ms/step  train tok/s (per CPU s)  x torch  GFLOP/s % peak  gen tok/s cache (per CPU s) / none  x torch  peak tensors  peak RSS',
  ]
  for (const r of results) {
    const ref = torch.find((t) => t.preset === r.preset && t.seq === r.seq)
    const gen = r.genTokensPerSecCache === null ? '-' : `${r.genTokensPerSecCache} (${r.genTokensPerCpuSecCache}) / ${r.genTokensPerSecNoCache}`
    const ofPeak = r.peakGflops ? `${((100 * r.stepGflops) / r.peakGflops).toFixed(0)}%` : '-'
    lines.push(
      `${r.preset.padEnd(7)} ${String(r.seq).padEnd(5)} ${r.backend.padEnd(9)} ${String(r.threads).padStart(7)} ${(r.threads > 1 ? r.threadMode : '').padEnd(8)} ${(r.parameters / 1e6).toFixed(2).padStart(5)}M ${String(r.msPerStep).padStart(8)} ${`${r.trainTokensPerSec} (${r.trainTokensPerCpuSec})`.padStart(24)} ${ratio(r.trainTokensPerSec, ref?.train_tokens_per_s).padStart(8)} ${String(r.stepGflops).padStart(8)} ${ofPeak.padStart(6)} ${gen.padStart(34)} ${ratio(r.genTokensPerSecCache, ref?.gen_tokens_per_s_kv_cache).padStart(8)} ${mb(r.peakTensorBytes).padStart(13)} ${mb(r.peakRssBytes).padStart(9)}`,
    )
  }
  lines.push(...secondCoreLines(results))
  for (const t of torch) {
    const tried = (t.tried ?? []).map((x) => `${x.torch_threads}/${x.OPENBLAS_NUM_THREADS}: ${x.train_tokens_per_s}`).join(', ')
    lines.push(`${t.preset.padEnd(7)} ${String(t.seq).padEnd(5)} ${'torch'.padEnd(9)} ${String(t.torch_threads).padStart(7)} ${''.padEnd(8)} ${''.padStart(6)} ${String(Math.round(t.ms_per_step)).padStart(8)} ${String(t.train_tokens_per_s).padStart(24)} ${'1.00'.padStart(8)}   (${t.framework}, ${t.blas}, torch threads ${t.torch_threads}, OPENBLAS_NUM_THREADS=${t.OPENBLAS_NUM_THREADS}; tried torch/BLAS threads: ${tried}; gen ${t.gen_tokens_per_s_kv_cache} tok/s)`)
  }
  return lines.join('\n')
}

function parseArgs(argv: string[]): ModelBenchOptions & { json: boolean; saveBaseline: boolean; row?: BenchRow } {
  const out: ModelBenchOptions & { json: boolean; saveBaseline: boolean; row?: BenchRow } = { json: false, saveBaseline: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => {
      const v = argv[++i]
      if (v === undefined) throw new Error(`${arg} needs a value`)
      return v
    }
    if (arg === '--json') out.json = true
    else if (arg === '--no-torch') out.torch = false
    else if (arg === '--save-baseline') out.saveBaseline = true
    else if (arg === '--row') out.row = JSON.parse(next()) as BenchRow
    else if (arg === '--preset') {
      const p = next()
      if (!(p in MODEL_PRESETS)) throw new Error(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got ${p}`)
      out.presets = [p as PresetName]
    } else if (arg === '--backend') out.backends = [next() as BackendPreference]
    else if (arg === '--steps') out.steps = Number(next())
    else if (arg === '--min-seconds') out.minSeconds = Number(next())
    else if (arg === '--batch') out.batch = Number(next())
    else if (arg === '--seq') out.seq = Number(next())
    else if (arg === '--threads') out.threads = next().split(',').map(Number)
    else if (arg === '--modes') {
      const modes = next().split(',')
      const unknown = modes.filter((m) => m !== 'kernel' && m !== 'workers')
      if (unknown.length > 0) throw new Error(`--modes: unknown mode(s) ${unknown.join(', ')}; known: kernel, workers`)
      out.modes = modes as ThreadMode[]
    } else if (arg === '--gen-tokens') out.genTokens = Number(next())
    else throw new Error(`unknown option ${arg} (known: --preset, --seq, --backend, --threads, --modes, --steps, --min-seconds, --batch, --gen-tokens, --no-torch, --save-baseline, --json)`)
  }
  return out
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2))
  if (args.row) {
    // A child process: one row, as JSON on the last line.
    console.log(JSON.stringify(await benchOne(args.row)))
    return 0
  }
  const { results, torch, peakGflops } = await runModelBench({ ...args, log: args.json ? undefined : (l) => console.error(l) })
  console.log(args.json ? JSON.stringify({ results, torch, peakGflops }, null, 2) : formatTable(results, torch, peakGflops))
  const rows: BaselineRow[] = results.map((r) => ({ key: rowKey(r), peakRssBytes: r.peakRssBytes }))
  if (args.saveBaseline) {
    saveBaseline(rows)
    console.error(`model bench: peak RSS of ${rows.length} row(s) saved in bench/baseline.json`)
    return 0
  }
  const regressions = rssRegressions(rows)
  if (regressions.length === 0) return 0
  console.error(`\nmodel bench FAILED: peak RSS rose more than 10% above bench/baseline.json:\n  ${regressions.join('\n  ')}\n(if the rise is intended, record it with --save-baseline)`)
  return 1
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main()
}
