// Batched generation benchmark: tokens/s of generateBatch (core/model/generate.ts) at batch 1, 8
// and 32, greedy, plus sampling at temperature 1 at the largest batch, per preset; beside PyTorch
// doing the same (bench/torch_reference.py --generate-only: one KV cache per batch grown by
// torch.cat, the log-probability of each chosen token), per row the best of one and two torch
// threads, as our matmuls use the native thread pool.
// Every row runs the full budget (no stop token): prompts of 8 random tokens, --gen-tokens new ones.
// Wall-clock rates and rates per CPU second of the process are both given: on a shared machine
// the CPU rates are the steadier ones, and both are noisy. So ours and PyTorch's runs alternate
// (--rounds, default 2) and each side keeps its best rate per key: a load spike during one side's
// turn does not decide the ratio.
//
//   node --import tsx bench/generate.ts [--preset tiny|small] [--backend wasm|cpu|...]
//                                       [--batches 1,8,32] [--gen-tokens 120] [--rounds 2] [--no-torch] [--json]
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { MODEL_PRESETS } from '../core/model/config'
import { generateBatch } from '../core/model/generate'
import { Llama } from '../core/model/llama'
import { mulberry32 } from '../core/util/random'

type PresetName = keyof typeof MODEL_PRESETS

/** Keys: generate_tokens_per_s_b<batch>, generate_tokens_per_cpu_s_b<batch>, generate_sample_... */
type Rates = Record<string, number>

export interface GenerateBenchResult {
  preset: PresetName
  backend: string
  newTokens: number
  rates: Rates
  torch: (Rates & { torch_threads: number; OPENBLAS_NUM_THREADS: string; blas: string; framework: string }) | null
  /** ours / torch for every wall-clock and CPU rate both have. */
  ratios: Rates
}

const PYTHON = '/usr/bin/python3'
const TORCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'torch_reference.py')
const PROMPT_TOKENS = 8

function rateKey(batch: number, sample: boolean, perCpu: boolean): string {
  return `generate_${sample ? 'sample_' : ''}tokens_per_${perCpu ? 'cpu_' : ''}s_b${batch}`
}

function randomPrompts(batch: number, vocab: number, seed: number): number[][] {
  const rand = mulberry32(seed)
  return Array.from({ length: batch }, () => Array.from({ length: PROMPT_TOKENS }, () => Math.floor(rand() * vocab)))
}

function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since)
  return (used.user + used.system) / 1e6
}

async function ourRates(model: Llama, batches: number[], newTokens: number): Promise<Rates> {
  const vocab = model.config.vocab_size
  const largest = Math.max(...batches)
  // Warm-up: kernel set-up, the decode weight transposes, V8 optimising the sampling loop.
  await generateBatch(model, randomPrompts(largest, vocab, 0), { maxNewTokens: 16, temperature: 0 })
  const rates: Rates = {}
  const runs = [...batches.map((b) => ({ batch: b, sample: false })), { batch: largest, sample: true }]
  for (const { batch, sample } of runs) {
    const prompts = randomPrompts(batch, vocab, batch)
    const start = performance.now()
    const cpu = process.cpuUsage()
    const out = await generateBatch(model, prompts, { maxNewTokens: newTokens, temperature: sample ? 1 : 0, seed: 1 })
    const wall = (performance.now() - start) / 1000
    const tokens = out.reduce((n, r) => n + r.ids.length, 0)
    rates[rateKey(batch, sample, false)] = Math.round(tokens / wall)
    rates[rateKey(batch, sample, true)] = Math.round(tokens / cpuSeconds(cpu))
  }
  return rates
}

function torchAvailable(): boolean {
  return fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch']).status === 0
}

/** Torch thread counts tried; each row keeps the best (our generation uses the native matmul's threads too). */
const TORCH_THREADS = [1, 2]

/** PyTorch's rates, per key the best over TORCH_THREADS (OpenBLAS on one thread), as bench/torch_reference.py measures them. */
function torchRates(preset: PresetName, batches: number[], newTokens: number): NonNullable<GenerateBenchResult['torch']> {
  let best: NonNullable<GenerateBenchResult['torch']> | null = null
  for (const threads of TORCH_THREADS) {
    const run = spawnSync(PYTHON, [TORCH_SCRIPT, '--preset', preset, '--threads', String(threads), '--generate-only', '--gen-batches', batches.join(','), '--gen-tokens', String(newTokens)], {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    })
    if (run.status !== 0) throw new Error(`torch_reference.py --generate-only failed:\n${run.stderr}`)
    best = bestOf(best, JSON.parse(run.stdout.trim().split('\n').pop()!) as NonNullable<GenerateBenchResult['torch']>)
  }
  return best!
}

/** Per key, the larger rate of `a` and `b` (either may be missing). */
function bestOf<T extends Rates>(a: T | null, b: T): T {
  if (!a) return b
  const out = { ...a }
  for (const [key, value] of Object.entries(b)) {
    const current = out[key]
    if (typeof value === 'number' && (typeof current !== 'number' || value > current)) (out as Rates)[key] = value
  }
  return out
}

export async function runGenerateBench(opts: { presets?: PresetName[]; backend?: BackendPreference; batches?: number[]; genTokens?: number; rounds?: number; torch?: boolean; log?: (l: string) => void }): Promise<GenerateBenchResult[]> {
  const log = opts.log ?? (() => {})
  const batches = opts.batches ?? [1, 8, 32]
  const info = await initBackend(opts.backend ?? 'wasm')
  const withTorch = opts.torch !== false && torchAvailable()
  const results: GenerateBenchResult[] = []
  for (const preset of opts.presets ?? (['tiny', 'small'] as PresetName[])) {
    const cfg = MODEL_PRESETS[preset]
    const newTokens = Math.min(opts.genTokens ?? 120, cfg.max_seq_len - PROMPT_TOKENS)
    const model = Llama.create(cfg, 0)
    let rates: Rates | null = null
    let torch: GenerateBenchResult['torch'] = null
    for (let round = 1; round <= (opts.rounds ?? 2); round++) {
      log(`generate bench: ${preset} on ${info.name}, batches ${batches.join(', ')}, ${newTokens} new tokens, round ${round} ...`)
      rates = bestOf(rates, await ourRates(model, batches, newTokens))
      if (withTorch) {
        log(`generate bench: ${preset} with PyTorch, round ${round} ...`)
        torch = bestOf(torch, torchRates(preset, batches, newTokens))
      }
    }
    model.dispose()
    const ratios: Rates = {}
    for (const [key, value] of Object.entries(rates!)) if (torch?.[key]) ratios[key] = Number((value / torch[key]).toFixed(2))
    results.push({ preset, backend: info.name, newTokens, rates: rates!, torch, ratios })
  }
  return results
}

function formatTable(results: GenerateBenchResult[]): string {
  const lines = ['preset  backend  run               tok/s (per CPU s)   torch tok/s (per CPU s)   x torch (per CPU s)']
  for (const r of results) {
    for (const key of Object.keys(r.rates).filter((k) => !k.includes('_cpu_'))) {
      const cpuKey = key.replace('per_s', 'per_cpu_s')
      const run = key.replace('generate_', '').replace('tokens_per_s_', '')
      const theirs = r.torch ? `${r.torch[key]} (${r.torch[cpuKey]})` : '-'
      const ratio = r.ratios[key] !== undefined ? `${r.ratios[key]} (${r.ratios[cpuKey]})` : '-'
      lines.push(`${r.preset.padEnd(7)} ${r.backend.padEnd(8)} ${run.padEnd(16)} ${`${r.rates[key]} (${r.rates[cpuKey]})`.padStart(18)} ${theirs.padStart(25)} ${ratio.padStart(21)}`)
    }
    if (r.torch) lines.push(`        (${r.torch.framework}, ${r.torch.blas}, best of torch threads ${TORCH_THREADS.join(' and ')} per row, OPENBLAS_NUM_THREADS=${r.torch.OPENBLAS_NUM_THREADS}; ${r.newTokens} new tokens per row)`)
  }
  return lines.join('\n')
}

function parseArgs(argv: string[]) {
  const out: Parameters<typeof runGenerateBench>[0] & { json: boolean } = { json: false }
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
    } else if (arg === '--backend') out.backend = next() as BackendPreference
    else if (arg === '--batches') out.batches = next().split(',').map(Number)
    else if (arg === '--gen-tokens') out.genTokens = Number(next())
    else if (arg === '--rounds') out.rounds = Number(next())
    else throw new Error(`unknown option ${arg} (known: --preset, --backend, --batches, --gen-tokens, --rounds, --no-torch, --json)`)
  }
  return out
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = parseArgs(process.argv.slice(2))
  const results = await runGenerateBench({ ...args, log: args.json ? undefined : (l) => console.error(l) })
  console.log(args.json ? JSON.stringify({ results }, null, 2) : formatTable(results))
}
