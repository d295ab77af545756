// LoRA benchmark: one SFT training step (forward, backward, clipping, AdamW) with every weight
// training beside the same step with LoRA adapters on a frozen trunk (as prepareFinetuning sets it
// up: the trunk frozen, each layer recomputed in the backward pass), at equal batch on the small
// preset. Per mode: seconds per step; peak tensor memory, counted as distinct tensor buffers
// (core/backend/bufferMeter.ts: weights, adapters, AdamW moments, activations and gradients;
// tfjs's own numBytes counts a shared buffer once per view, see there); and the process's peak
// resident memory. Each mode runs in a process of its own, so the peak RSS is that mode's. One thread.
//
//   node --import tsx bench/lora.ts [--backend wasm] [--preset small] [--batch 8] [--seq 128]
//                                   [--steps 2] [--rank 8] [--dropout 0] [--targets q,v] [--mode full|lora] [--json]
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend, type BackendPreference } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { BufferMeter } from '../core/backend/bufferMeter'
import { MODEL_PRESETS } from '../core/model/config'
import { Llama } from '../core/model/llama'
import { LoraAdapters, LORA_TARGETS, type LoraTarget } from '../core/model/lora'
import { AdamW, clipByGlobalNorm } from '../core/train/adamw'
import { freezeTrunk } from '../core/train/stages/finetuning'
import { trainingMemory } from '../core/train/memoryEstimate'
import { mulberry32 } from '../core/util/random'

interface Options {
  backend: BackendPreference
  preset: keyof typeof MODEL_PRESETS
  batch: number
  seq: number
  steps: number
  rank: number
  /** LoRA dropout on the adapter input (the stage's default, PEFT's, is 0). */
  dropout: number
  targets: LoraTarget[]
  /** Only this mode, in this process (the default runs each mode in a child process). */
  mode?: 'full' | 'lora'
  json: boolean
}

export interface LoraBenchRow {
  mode: 'full' | 'lora'
  trainedParams: number
  secondsPerStep: number
  /** Peak of the distinct tensor buffers alive during a step, MiB. */
  peakMB: number
  /** The process's peak resident set, MiB (node, tfjs and the wasm heap, which never shrinks). */
  peakRssMB: number
  /** What the New run form's estimate says for this step (core/train/memoryEstimate.ts), MiB. */
  estimateMB: number
  /** The whole estimate, runtime included: compares with peak RSS. */
  estimateRssMB: number
}

function randomTokens(batch: number, seq: number, vocab: number): { tokens: tf.Tensor2D; targets: tf.Tensor2D } {
  const rand = mulberry32(3)
  const ids = Array.from({ length: batch * (seq + 1) }, () => Math.floor(rand() * vocab))
  const rows = Array.from({ length: batch }, (_, b) => ids.slice(b * (seq + 1), (b + 1) * (seq + 1)))
  return {
    tokens: tf.tensor2d(rows.map((r) => r.slice(0, seq)), [batch, seq], 'int32'),
    targets: tf.tensor2d(rows.map((r) => r.slice(1)), [batch, seq], 'int32'),
  }
}

async function benchMode(mode: 'full' | 'lora', o: Options): Promise<LoraBenchRow> {
  const meter = new BufferMeter().start()
  const model = Llama.create({ ...MODEL_PRESETS[o.preset], max_seq_len: Math.max(o.seq, MODEL_PRESETS[o.preset].max_seq_len) }, 0)
  if (mode === 'lora') {
    model.adapters = LoraAdapters.create(model.config, { rank: o.rank, alpha: 2 * o.rank, dropout: o.dropout, targets: o.targets }, 0)
    freezeTrunk(model)
  }
  const params = mode === 'lora' ? model.adapters!.variables() : model.weights
  let optimizer!: AdamW
  tf.tidy(() => {
    optimizer = new AdamW(params)
  })
  const { tokens, targets } = randomTokens(o.batch, o.seq, model.config.vocab_size)
  const step = () => {
    if (model.adapters) model.adapters.training = true
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets), Object.values(params))
      const byName = Object.fromEntries(Object.entries(params).map(([name, v]) => [name, grads[v.name]]))
      optimizer.applyGradients(clipByGlobalNorm(byName, 1).grads, 1e-4)
      value.dataSync()
    })
    if (model.adapters) model.adapters.training = false
  }
  step() // warm-up
  meter.resetPeak()
  const t0 = performance.now()
  for (let i = 0; i < o.steps; i++) step()
  const secondsPerStep = (performance.now() - t0) / 1000 / o.steps
  const peakBytes = meter.peakBytes
  meter.stop()
  const trainedParams = Object.values(params).reduce((n, v) => n + v.size, 0)
  optimizer.dispose()
  tf.dispose([tokens, targets])
  model.dispose()
  const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10
  const estimate = trainingMemory(model.config, { batch: o.batch, seq: o.seq, lora: mode === 'lora' ? { rank: o.rank, targets: o.targets, dropout: o.dropout } : undefined })
  return {
    mode,
    trainedParams,
    secondsPerStep: Math.round(secondsPerStep * 100) / 100,
    peakMB: mib(peakBytes),
    peakRssMB: mib(process.resourceUsage().maxRSS * 1024),
    estimateMB: mib(estimate.totalBytes - estimate.runtimeBytes - estimate.threadsBytes),
    estimateRssMB: mib(estimate.totalBytes),
  }
}

interface BenchResult {
  backend: string
  device: string
  rows: LoraBenchRow[]
}

/** One mode in this process. */
async function runMode(mode: 'full' | 'lora', o: Options): Promise<BenchResult> {
  const info = await initBackend(o.backend)
  return { backend: info.name, device: info.device, rows: [await benchMode(mode, o)] }
}

/** Both modes, each in a child process of its own (this script with --mode and --json). */
function runBothModes(argv: string[]): BenchResult {
  const results = (['full', 'lora'] as const).map((mode) => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...argv.filter((a) => a !== '--json'), '--mode', mode, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (child.status !== 0) throw new Error(`bench/lora.ts --mode ${mode} failed (exit ${child.status})`)
    return JSON.parse(child.stdout) as BenchResult
  })
  return { ...results[0], rows: results.flatMap((r) => r.rows) }
}

function parseArgs(argv: string[]): Options {
  const o: Options = { backend: 'auto' as BackendPreference, preset: 'small', batch: 8, seq: 128, steps: 2, rank: 8, dropout: 0, targets: ['q', 'v'], json: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => argv[++i] ?? ''
    if (arg === '--json') o.json = true
    else if (arg === '--backend') o.backend = next() as BackendPreference
    else if (arg === '--preset') o.preset = next() as Options['preset']
    else if (arg === '--batch') o.batch = Number(next())
    else if (arg === '--seq') o.seq = Number(next())
    else if (arg === '--steps') o.steps = Number(next())
    else if (arg === '--rank') o.rank = Number(next())
    else if (arg === '--dropout') o.dropout = Number(next())
    else if (arg === '--mode') {
      const mode = next()
      if (mode !== 'full' && mode !== 'lora') throw new Error(`--mode: full or lora, got "${mode}"`)
      o.mode = mode
    }
    else if (arg === '--targets') {
      o.targets = next().split(',') as LoraTarget[]
      const bad = o.targets.filter((t) => !LORA_TARGETS.includes(t))
      if (bad.length > 0) throw new Error(`--targets: unknown ${bad.join(', ')} (any of ${LORA_TARGETS.join(', ')})`)
    } else throw new Error(`unknown option ${arg} (known: --backend, --preset, --batch, --seq, --steps, --rank, --dropout, --targets, --mode, --json)`)
  }
  if (!(o.preset in MODEL_PRESETS)) throw new Error(`--preset: one of ${Object.keys(MODEL_PRESETS).join(', ')}`)
  return o
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2)
  const o = parseArgs(argv)
  const result = o.mode ? await runMode(o.mode, o) : runBothModes(argv)
  if (o.json) console.log(JSON.stringify(result, null, 2))
  else {
    console.log(`SFT step, ${o.preset} preset, batch ${o.batch} x ${o.seq} tokens, ${result.backend} (${result.device}), one thread; LoRA r=${o.rank} on ${o.targets.join(',')}, dropout ${o.dropout}`)
    const [full, lora] = result.rows
    for (const r of result.rows) {
      console.log(`  ${r.mode.padEnd(4)}  ${r.trainedParams.toLocaleString('en-US').padStart(11)} trained params  ${r.secondsPerStep.toFixed(2)} s/step  peak tensors ${r.peakMB} MiB (estimate ${r.estimateMB})  peak RSS ${r.peakRssMB} MiB (estimate ${r.estimateRssMB})`)
    }
    if (full && lora) {
      const percent = (a: number, b: number) => ((100 * a) / b).toFixed(0)
      console.log(`  LoRA peak tensor memory: ${percent(lora.peakMB, full.peakMB)}% of full fine-tuning's (target: at most 50%); peak RSS ${percent(lora.peakRssMB, full.peakRssMB)}%`)
    }
  }
}
