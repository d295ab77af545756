// The fused causal attention (core/model/kernels/causalAttention.ts) against the tfjs path, as a
// paired A/B in one process: training steps of one model (forward, backward, clipping, AdamW, as
// bench/profileStep.ts) alternate WORKBENCH_FUSED_ATTENTION=1 / 0, the first of each pair
// alternating too, so both see the same machine load; a shared machine moves both alike. Prints
// the median ms per step of each, the ratio of the medians and the median of the per-pair ratios,
// and the tfjs kernels per step of each (tf.profile). Not part of `npm run bench`: the figures in
// docs/architecture.md ("CPU training speed") come from it.
//
//   node --import tsx bench/attentionAB.ts [--preset tiny|small] [--seq 128] [--batch 16] [--threads 1] [--pairs 20]
import { initBackend } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { MODEL_PRESETS } from '../core/model/config'
import { setNativeMatMulThreads } from '../core/backend/kernels/nativeMatMul'
import { fusedAttentionActive } from '../core/model/kernels/causalAttention'
import { trainingStep } from './trainingStep'

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const preset = option('preset', 'tiny') as keyof typeof MODEL_PRESETS
const seq = Number(option('seq', String(MODEL_PRESETS[preset].max_seq_len)))
// The bench's batch (bench/model.ts): the preset's tokens per step, at least one row.
const batch = Number(option('batch', String(Math.max(1, Math.round(((preset === 'tiny' ? 16 : 8) * MODEL_PRESETS[preset].max_seq_len) / seq)))))
const threads = Number(option('threads', '1'))
const pairs = Number(option('pairs', '20'))

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

function setFused(on: boolean): void {
  process.env.WORKBENCH_FUSED_ATTENTION = on ? '1' : '0'
}

async function main(): Promise<void> {
  await initBackend('wasm')
  setNativeMatMulThreads(threads)
  const cfg = { ...MODEL_PRESETS[preset], max_seq_len: seq }
  const { step } = trainingStep(cfg, batch, seq)
  const timed = (fused: boolean) => {
    setFused(fused)
    const t0 = performance.now()
    step()
    return performance.now() - t0
  }
  setFused(true)
  if (!fusedAttentionActive()) throw new Error('the fused attention is not available here (no addon, or one built before it): nothing to compare')
  // Warm-up: kernel set-up, optimizer moments, V8's JIT, for both paths.
  for (let i = 0; i < 2; i++) [true, false].forEach(timed)
  const kernels = async (fused: boolean) => {
    setFused(fused)
    const info = await tf.profile(step)
    return { all: info.kernels.length, named: info.kernels.filter((k) => k.name !== 'unnamed scope').length, peakMB: info.peakBytes / 2 ** 20 }
  }
  const [kFused, kTfjs] = [await kernels(true), await kernels(false)]
  const fusedMs: number[] = []
  const tfjsMs: number[] = []
  const ratios: number[] = []
  for (let p = 0; p < pairs; p++) {
    const order = p % 2 === 0 ? [true, false] : [false, true]
    const [first, second] = order.map(timed)
    const f = order[0] ? first : second
    const t = order[0] ? second : first
    fusedMs.push(f)
    tfjsMs.push(t)
    ratios.push(t / f)
  }
  const line = (name: string, ms: number[], k: { all: number; named: number; peakMB: number }) =>
    `  ${name.padEnd(6)} median ${median(ms).toFixed(1).padStart(7)} ms/step (min ${Math.min(...ms).toFixed(1)}, max ${Math.max(...ms).toFixed(1)}); ${k.named} kernels per step (${k.all} with custom-op scopes); peak tensors ${k.peakMB.toFixed(0)} MB`
  console.log(`${preset} seq ${seq} batch ${batch}, ${threads} native thread(s), ${pairs} pairs`)
  console.log(line('fused', fusedMs, kFused))
  console.log(line('tfjs', tfjsMs, kTfjs))
  console.log(`  tfjs / fused: ratio of medians ${(median(tfjsMs) / median(fusedMs)).toFixed(3)}, median of per-pair ratios ${median(ratios).toFixed(3)} (fused faster in ${ratios.filter((r) => r > 1).length} of ${pairs} pairs)`)
}

await main()
