// Where a training step's time goes: one step of a preset on wasm (forward, backward, clipping,
// AdamW; the native matmul and fused kernels when built) under tf.profile, its kernels' time summed
// by purpose (matmuls, the fused kernels, the tfjs elementwise kernels left) and by kernel name.
// With --cpu the kernels are timed in this process's CPU time instead of wall time: steadier on a
// shared machine, where a kernel's wall time includes waiting for a core. Not part of `npm run
// bench`: a tool for deciding what to fuse next (docs/architecture.md, "CPU training speed").
//
//   node --import tsx bench/profileStep.ts [--preset tiny|small] [--batch 16] [--threads 1] [--cpu] [--top 30]
import { initBackend } from '../core/backend/index'
import { tf } from '../core/backend/tf'
import { MODEL_PRESETS, type LlamaConfig } from '../core/model/config'
import { setNativeMatMulThreads } from '../core/backend/kernels/nativeMatMul'
import { trainingStep } from './trainingStep'

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const preset = option('preset', 'tiny') as keyof typeof MODEL_PRESETS
const batch = Number(option('batch', preset === 'tiny' ? '16' : '8'))
const PROFILED_STEPS = 3

/** What a kernel call is for, from its name and input shapes (the presets' shapes). */
function purpose(name: string, shapes: number[][], cfg: LlamaConfig): string {
  const hd = cfg.dim / cfg.n_heads
  if (name === 'BatchMatMul') return shapes[1]?.join(',') === `${hd},${hd}` ? 'rope (rotate_half matmul)' : 'matmul'
  if (name.startsWith('Workbench')) return `fused: ${name}`
  if (shapes.some((s) => s.length === 2 && s[1] === cfg.vocab_size && s[0] !== cfg.vocab_size)) return 'cross-entropy (tfjs)'
  if (shapes.some((s) => s.length === 3)) return 'attention softmax + mask (tfjs)'
  if (shapes.some((s) => s.length === 4)) return 'rope / head layout (tfjs)'
  if (name === 'GatherV2' || name === 'ScatterNd') return 'embedding gather / scatter'
  return `other: ${name} (AdamW, clipping, residuals, ...)`
}

/** A wasm backend whose kernel timer reads this process's CPU time. */
function timeKernelsInCpuTime(): void {
  const backend = tf.backend() as unknown as { time: (f: () => void) => Promise<{ kernelMs: number }> }
  backend.time = async (f) => {
    const start = process.cpuUsage()
    f()
    const used = process.cpuUsage(start)
    return { kernelMs: (used.user + used.system) / 1000 }
  }
}

/** Flops of a (batched) matmul from a's shape and the output's: 2 * outputs * k, k being a's dimension that is not the output's rows. */
function matmulFlops(a: number[], out: number[]): number {
  const m = out[out.length - 2]
  const k = a[a.length - 2] === m ? a[a.length - 1] : a[a.length - 2]
  return 2 * out.reduce((x, y) => x * y, 1) * k
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function printTable(title: string, totals: Map<string, number[]>): void {
  const rows = [...totals.entries()].map(([key, perStep]) => [key, median(perStep)] as const).sort((a, b) => b[1] - a[1])
  const sum = rows.reduce((a, [, ms]) => a + ms, 0)
  console.log(`\n${title} (median of ${PROFILED_STEPS} profiled steps; ${sum.toFixed(1)} ms in kernels)`)
  for (const [key, ms] of rows) console.log(`  ${key.padEnd(48)} ${ms.toFixed(1).padStart(7)} ms ${((100 * ms) / sum).toFixed(1).padStart(5)}%`)
}

async function main(): Promise<void> {
  await initBackend('wasm')
  if (args.includes('--cpu')) timeKernelsInCpuTime()
  setNativeMatMulThreads(Number(option('threads', '1')))
  const cfg = MODEL_PRESETS[preset]
  const seq = cfg.max_seq_len
  const { step } = trainingStep(cfg, batch, seq)
  step() // warm-up: kernel set-up, optimizer moments
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < 3; i++) step()
  const used = process.cpuUsage(cpu0)
  console.log(`${preset} seq ${seq} batch ${batch}: ${((performance.now() - t0) / 3).toFixed(1)} ms/step, ${((used.user + used.system) / 3000).toFixed(1)} ms CPU/step (unprofiled)`)
  const byPurpose = new Map<string, number[]>()
  const byName = new Map<string, number[]>()
  const calls: { name: string; ms: number; shapes: number[][] }[] = []
  const matmuls = new Map<string, { ms: number[]; gflop: number }>()
  let kernelCalls = 0
  for (let run = 0; run < PROFILED_STEPS; run++) {
    const info = await tf.profile(step)
    kernelCalls = info.kernels.filter((k) => k.name !== 'unnamed scope').length
    for (const k of info.kernels) {
      // A custom op's forward shows as one "unnamed scope" around its own kernels: counted there.
      if (k.name === 'unnamed scope') continue
      const ms = Number(k.kernelTimeMs)
      for (const [table, key] of [[byPurpose, purpose(k.name, k.inputShapes, cfg)], [byName, k.name]] as const) {
        const perStep = table.get(key) ?? new Array<number>(PROFILED_STEPS).fill(0)
        perStep[run] += ms
        table.set(key, perStep)
      }
      if (run === PROFILED_STEPS - 1) calls.push({ name: k.name, ms, shapes: k.inputShapes })
      if (k.name === 'BatchMatMul') {
        const key = `${JSON.stringify(k.inputShapes)} -> ${JSON.stringify(k.outputShapes[0])}`
        const entry = matmuls.get(key) ?? { ms: new Array<number>(PROFILED_STEPS).fill(0), gflop: 0 }
        entry.ms[run] += ms
        if (run === 0) entry.gflop += matmulFlops(k.inputShapes[0], k.outputShapes[0] as number[]) / 1e9
        matmuls.set(key, entry)
      }
    }
  }
  // Each costs tfjs's own work on the main thread (~15 us here) besides the kernel's.
  console.log(`${kernelCalls} kernel calls per step (custom ops' scopes not counted)`)
  printTable('by purpose', byPurpose)
  printTable('by kernel', byName)
  console.log(`\nmatmuls by shape (inputs -> output; median ms per step, calls' GFLOP per step, GFLOP/s)`)
  for (const [key, { ms, gflop }] of [...matmuls.entries()].sort((a, b) => median(b[1].ms) - median(a[1].ms))) {
    console.log(`  ${key.padEnd(52)} ${median(ms).toFixed(1).padStart(6)} ms ${gflop.toFixed(3).padStart(7)} GFLOP ${(gflop / (median(ms) / 1000)).toFixed(0).padStart(5)} GFLOP/s`)
  }
  const top = Number(option('top', '0'))
  if (top > 0) {
    console.log(`\nthe ${top} longest kernel calls of the last profiled step`)
    for (const c of calls.sort((a, b) => b.ms - a.ms).slice(0, top)) console.log(`  ${c.name.padEnd(28)} ${c.ms.toFixed(2).padStart(7)} ms  ${JSON.stringify(c.shapes)}`)
  }
}

await main()
