// Tokenizer benchmark: time to train a 4k-vocabulary BPE on 1 MB of text, and encode / decode
// throughput. Run alone: `node --import tsx bench/tokenizer.ts [--file path] [--mb 1] [--vocab 4096] [--json]`.
//
// Text: --file if given, else English documentation found on the machine (Vim's help files,
// the licenses in /usr/share/common-licenses), else a seeded synthetic text (said in the output).

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Tokenizer } from '../core/tokenizer'

export interface TokenizerBenchOptions {
  file?: string
  /** Megabytes of text to use (default 1). */
  mb?: number
  vocabSize?: number
}

export interface TokenizerBenchResult {
  source: string
  corpusBytes: number
  vocabSize: number
  trainSeconds: number
  /** First encode of the corpus (word cache cold). */
  encodeMBps: number
  /** Second encode of the same text (every word cached). */
  encodeWarmMBps: number
  decodeMBps: number
  tokens: number
  bytesPerToken: number
  roundTrip: boolean
}

const SYSTEM_TEXT_FOLDERS = ['/usr/share/vim/vim90/doc', '/usr/share/vim/vim91/doc', '/usr/share/common-licenses']

export function runTokenizerBench(opts: TokenizerBenchOptions = {}): TokenizerBenchResult {
  const targetBytes = Math.round((opts.mb ?? 1) * 1_000_000)
  const vocabSize = opts.vocabSize ?? 4096
  const { text, source } = loadBenchText(targetBytes, opts.file)
  const corpusBytes = Buffer.byteLength(text)

  let t0 = performance.now()
  const tokenizer = Tokenizer.train([text], { vocabSize })
  const trainSeconds = (performance.now() - t0) / 1000

  t0 = performance.now()
  const ids = tokenizer.encode(text)
  const encodeSeconds = (performance.now() - t0) / 1000
  t0 = performance.now()
  tokenizer.encode(text)
  const encodeWarmSeconds = (performance.now() - t0) / 1000
  t0 = performance.now()
  const decoded = tokenizer.decode(ids)
  const decodeSeconds = (performance.now() - t0) / 1000

  const mb = corpusBytes / 1e6
  return {
    source,
    corpusBytes,
    vocabSize: tokenizer.vocabSize,
    trainSeconds,
    encodeMBps: mb / encodeSeconds,
    encodeWarmMBps: mb / encodeWarmSeconds,
    decodeMBps: mb / decodeSeconds,
    tokens: ids.length,
    bytesPerToken: corpusBytes / ids.length,
    roundTrip: decoded === text,
  }
}

function loadBenchText(targetBytes: number, file?: string): { text: string; source: string } {
  if (file) return { text: takeBytes(fs.readFileSync(file, 'utf8'), targetBytes), source: file }
  let text = ''
  for (const folder of SYSTEM_TEXT_FOLDERS) {
    if (!fs.existsSync(folder)) continue
    for (const name of fs.readdirSync(folder).sort()) {
      const full = path.join(folder, name)
      if (!fs.statSync(full).isFile()) continue
      text += fs.readFileSync(full, 'utf8') + '\n'
      if (Buffer.byteLength(text) >= targetBytes) return { text: takeBytes(text, targetBytes), source: `${folder} (system docs)` }
    }
  }
  if (Buffer.byteLength(text) >= targetBytes / 2) return { text, source: 'system docs (less than asked)' }
  return { text: syntheticText(targetBytes), source: 'synthetic (seeded random words)' }
}

/** Cuts at a character boundary near `bytes`. */
function takeBytes(text: string, bytes: number): string {
  return Buffer.from(text).subarray(0, bytes).toString('utf8').replace(/\uFFFD$/, '')
}

function syntheticText(bytes: number): string {
  const words = 'the a model learns from text and data of every size while tokens flow through layers in 2023 we trained 42 small networks quickly'.split(' ')
  let seed = 12345
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  let out = ''
  while (out.length < bytes) out += words[next() % words.length] + (next() % 12 === 0 ? '.\n' : ' ')
  return out.slice(0, bytes)
}

function printResult(r: TokenizerBenchResult): void {
  console.log(`tokenizer bench: ${(r.corpusBytes / 1e6).toFixed(2)} MB from ${r.source}`)
  console.log(`  train to ${r.vocabSize} tokens: ${r.trainSeconds.toFixed(2)} s`)
  console.log(`  encode: ${r.encodeMBps.toFixed(2)} MB/s cold, ${r.encodeWarmMBps.toFixed(2)} MB/s warm (${r.tokens} tokens, ${r.bytesPerToken.toFixed(2)} bytes/token)`)
  console.log(`  decode: ${r.decodeMBps.toFixed(2)} MB/s; round trip exact: ${r.roundTrip}`)
}

function parseArgs(argv: string[]): TokenizerBenchOptions & { json: boolean } {
  const value = (flag: string) => {
    const i = argv.indexOf(flag)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const number = (flag: string) => {
    const v = value(flag)
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: expected a positive number, got ${v}`)
    return n
  }
  return { file: value('--file'), mb: number('--mb'), vocabSize: number('--vocab'), json: argv.includes('--json') }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { json, ...opts } = parseArgs(process.argv.slice(2))
  const result = runTokenizerBench(opts)
  if (json) console.log(JSON.stringify(result))
  else printResult(result)
}
