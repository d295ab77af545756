// `npm run bench`: every benchmark, each in its own process (so backends and memory do not
// interfere), printed one after the other.
//
//   npm run bench [-- --only model,generate,store,tokenizer,reward,lora,ppo,webgpu] [--preset tiny|small] [--backend wasm|cpu|...]
//                 [--threads 1,2] [--modes kernel,workers] [--seq 1024] [--save-baseline] [--batches 1,8,32] [--json]
//
// --preset, --backend, --gen-tokens and --no-torch go to the model and generation benchmarks
// (--backend and --gen-tokens to the PPO one too, --preset and --gen-tokens to the WebGPU one),
// --threads, --modes, --seq, --steps, --min-seconds and --save-baseline to the model one (which fails when a row's
// peak RSS is more than 10% above bench/baseline.json), --batches to the generation one; --json
// makes every part print JSON.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const PARTS = ['tokenizer', 'store', 'model', 'generate', 'reward', 'lora', 'ppo', 'webgpu'] as const
type Part = (typeof PARTS)[number]

/** The flags each part takes (all but those in SWITCHES take a value). */
const PART_FLAGS: Record<Part, string[]> = {
  tokenizer: [],
  store: [],
  model: ['--preset', '--backend', '--threads', '--modes', '--seq', '--steps', '--min-seconds', '--gen-tokens', '--no-torch', '--save-baseline'],
  generate: ['--preset', '--backend', '--batches', '--gen-tokens', '--rounds', '--no-torch'],
  reward: ['--backend'],
  lora: ['--preset', '--backend'],
  ppo: ['--backend', '--gen-tokens'],
  // Runs in Chromium (scripts/webgpu/harness.ts) beside wasm, so it takes no --backend.
  webgpu: ['--preset', '--gen-tokens'],
}
const ALL_FLAGS = new Set(Object.values(PART_FLAGS).flat())
const SWITCHES = new Set(['--no-torch', '--save-baseline'])

function parseArgs(argv: string[]): { parts: Part[]; json: boolean; flags: string[][] } {
  let parts: Part[] = [...PARTS]
  const flags: string[][] = []
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--json') json = true
    else if (arg === '--only') {
      const wanted = (argv[++i] ?? '').split(',').filter(Boolean)
      const unknown = wanted.filter((w) => !(PARTS as readonly string[]).includes(w))
      if (unknown.length > 0) throw new Error(`--only: unknown part(s) ${unknown.join(', ')}; known: ${PARTS.join(', ')}`)
      parts = wanted as Part[]
    } else if (ALL_FLAGS.has(arg)) flags.push(SWITCHES.has(arg) ? [arg] : [arg, argv[++i] ?? ''])
    else throw new Error(`unknown flag ${arg} (try --only, ${[...ALL_FLAGS].join(', ')}, --json)`)
  }
  return { parts, json, flags }
}

function runPart(part: Part, args: string[]): number {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), `${part}.ts`)
  if (!args.includes('--json')) console.log(`\n== ${part} ==`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' })
  return result.status ?? 1
}

const { parts, json, flags } = parseArgs(process.argv.slice(2))
let failed = 0
for (const part of parts) {
  const args = [...flags.filter(([flag]) => PART_FLAGS[part].includes(flag)).flat(), ...(json ? ['--json'] : [])]
  if (runPart(part, args) !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
