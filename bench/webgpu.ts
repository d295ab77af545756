// WebGPU benchmark: tokens/s of training steps (forward, backward, AdamW) and greedy generation (KV
// cache) of a preset model on tfjs's WebGPU backend, where a job runs it (this Node process through
// Dawn's binding) and in Chromium (scripts/webgpu/harness.ts), beside the same work on wasm in Node. The adapter is named in the output; on a machine
// without a GPU driver Chromium's software adapter (SwiftShader) runs WebGPU on the CPU, and the
// figures say so: they measure that emulation, not a GPU. WORKBENCH_WEBGPU_ADAPTER=swiftshader
// forces the software adapter where a real one exists.
//
//   node --import tsx bench/webgpu.ts [--preset tiny|small] [--batch 4] [--seq 64] [--steps 3]
//                                     [--gen-tokens 16] [--no-wasm] [--json]
// Without Chromium or a WebGPU adapter it prints why and exits 0, so `npm run bench` goes on.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { initBackend } from '../core/backend/index'
import { MODEL_PRESETS } from '../core/model/config'
import { openWebGpuPage } from '../scripts/webgpu/harness'
import { timeGeneration, timeTraining, type Timing } from '../scripts/webgpu/workload'

type PresetName = keyof typeof MODEL_PRESETS

interface Options {
  preset: PresetName
  batch: number
  seq: number
  steps: number
  genTokens: number
  wasm: boolean
  json: boolean
}

export interface WebGpuBenchRow {
  backend: string
  device: string
  /** True when the adapter emulates WebGPU on the CPU (SwiftShader, lavapipe): not a GPU figure. */
  softwareAdapter: boolean
  trainTokensPerSec: number
  generateTokensPerSec: number
}

function round(t: Timing): number {
  return Math.round(t.tokensPerSecond * 10) / 10
}

/** Throws the "no adapter" reasons of both places when neither has WebGPU. */
export async function runWebGpuBench(o: Options): Promise<WebGpuBenchRow[]> {
  const config = MODEL_PRESETS[o.preset]
  const rows: WebGpuBenchRow[] = []
  const missing: string[] = []
  try {
    const info = await initBackend('webgpu')
    const train = await timeTraining(config, o.batch, o.seq, o.steps)
    const generate = await timeGeneration(config, o.batch, o.genTokens)
    rows.push({ backend: 'webgpu (Node, Dawn)', device: info.device, softwareAdapter: info.device.includes('software adapter'), trainTokensPerSec: round(train), generateTokensPerSec: round(generate) })
  } catch (err) {
    if (!isMissingWebGpu(err)) throw err
    missing.push(`Node: ${(err as Error).message}`)
  }
  try {
    const page = await openWebGpuPage()
    try {
      const train = await page.timeTraining(config, o.batch, o.seq, o.steps)
      const generate = await page.timeGeneration(config, o.batch, o.genTokens)
      rows.push({ backend: 'webgpu (Chromium)', device: page.backend.device, softwareAdapter: page.backend.device.includes('software adapter'), trainTokensPerSec: round(train), generateTokensPerSec: round(generate) })
    } finally {
      await page.close()
    }
  } catch (err) {
    if (!isMissingWebGpu(err)) throw err
    missing.push(`Chromium: ${(err as Error).message}`)
  }
  if (rows.length === 0) throw new Error(`no WebGPU adapter was found. ${missing.join(' ')}`)
  if (o.wasm) {
    const info = await initBackend('wasm')
    const train = await timeTraining(config, o.batch, o.seq, o.steps)
    const generate = await timeGeneration(config, o.batch, o.genTokens)
    rows.push({ backend: 'wasm (Node)', device: info.device, softwareAdapter: false, trainTokensPerSec: round(train), generateTokensPerSec: round(generate) })
  }
  return rows
}

function parseArgs(argv: string[]): Options {
  const o: Options = { preset: 'tiny', batch: 4, seq: 64, steps: 3, genTokens: 16, wasm: true, json: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = () => argv[++i] ?? ''
    if (arg === '--json') o.json = true
    else if (arg === '--no-wasm') o.wasm = false
    else if (arg === '--preset') o.preset = next() as PresetName
    else if (arg === '--batch') o.batch = Number(next())
    else if (arg === '--seq') o.seq = Number(next())
    else if (arg === '--steps') o.steps = Number(next())
    else if (arg === '--gen-tokens') o.genTokens = Number(next())
    else throw new Error(`unknown option ${arg} (known: --preset, --batch, --seq, --steps, --gen-tokens, --no-wasm, --json)`)
  }
  if (!(o.preset in MODEL_PRESETS)) throw new Error(`--preset must be one of ${Object.keys(MODEL_PRESETS).join(', ')}, got "${o.preset}"`)
  return o
}

/** True for the errors of a machine that cannot run this bench (no Chromium, no adapter). */
function isMissingWebGpu(err: unknown): boolean {
  return err instanceof Error && /Chromium was not found|no WebGPU adapter was found/.test(err.message)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o = parseArgs(process.argv.slice(2))
  let results: WebGpuBenchRow[]
  try {
    results = await runWebGpuBench(o)
  } catch (err) {
    if (!isMissingWebGpu(err)) throw err
    // `npm run bench` runs every part: a machine without WebGPU says so instead of failing the rest.
    const reason = (err as Error).message
    console.log(o.json ? JSON.stringify({ skipped: reason }) : `skipped: ${reason}`)
    process.exit(0)
  }
  if (o.json) console.log(JSON.stringify({ preset: o.preset, batch: o.batch, seq: o.seq, steps: o.steps, genTokens: o.genTokens, results }, null, 2))
  else {
    console.log(`${o.preset} preset: training ${o.steps} steps of ${o.batch} x ${o.seq} tokens; greedy generation of ${o.genTokens} tokens for ${o.batch} rows (first step / call untimed)`)
    for (const r of results) console.log(`  ${r.backend}, ${r.device}: training ${r.trainTokensPerSec} tokens/s, generation ${r.generateTokensPerSec} tokens/s`)
    if (results.some((r) => r.softwareAdapter)) {
      console.log('  note: the WebGPU adapter is a software one (it runs on the CPU): these figures are not a GPU\'s; run on a machine with a GPU driver for those.')
    }
  }
}
