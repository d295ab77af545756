// `npm run bench`: every benchmark, each in its own process (so backends and memory do not
// interfere), printed one after the other.
//
//   npm run bench [-- --only model,store,tokenizer,reward] [--preset tiny|small] [--backend wasm|cpu|...]
//                 [--threads 1,2] [--json]
//
// --preset, --backend and --threads go to the model benchmark; --json makes every part print JSON.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const PARTS = ['tokenizer', 'store', 'model', 'reward'] as const
type Part = (typeof PARTS)[number]

const MODEL_FLAGS = new Set(['--preset', '--backend', '--threads', '--steps', '--gen-tokens', '--no-torch'])

function parseArgs(argv: string[]): { parts: Part[]; json: boolean; modelArgs: string[] } {
  let parts: Part[] = [...PARTS]
  const modelArgs: string[] = []
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--json') json = true
    else if (arg === '--only') {
      const wanted = (argv[++i] ?? '').split(',').filter(Boolean)
      const unknown = wanted.filter((w) => !(PARTS as readonly string[]).includes(w))
      if (unknown.length > 0) throw new Error(`--only: unknown part(s) ${unknown.join(', ')}; known: ${PARTS.join(', ')}`)
      parts = wanted as Part[]
    } else if (MODEL_FLAGS.has(arg)) {
      modelArgs.push(arg)
      if (arg !== '--no-torch') modelArgs.push(argv[++i] ?? '')
    } else throw new Error(`unknown flag ${arg} (try --only, --preset, --backend, --threads, --steps, --gen-tokens, --no-torch, --json)`)
  }
  return { parts, json, modelArgs }
}

function runPart(part: Part, args: string[]): number {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), `${part}.ts`)
  if (!args.includes('--json')) console.log(`\n== ${part} ==`)
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { stdio: 'inherit' })
  return result.status ?? 1
}

const { parts, json, modelArgs } = parseArgs(process.argv.slice(2))
let failed = 0
for (const part of parts) {
  const args = [...(part === 'model' ? modelArgs : []), ...(json ? ['--json'] : [])]
  if (runPart(part, args) !== 0) failed++
}
process.exit(failed > 0 ? 1 : 0)
