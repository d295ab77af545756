// Benchmark of the tracking store: how fast metrics are written in batches through the real
// SqliteTracker, what recording costs per training step, and how long a 1,000,000-point series
// takes to come back downsampled to 2,000 points.
// Run alone: node --import tsx bench/store.ts [--points N] [--batch N] [--max-points N] [--json]

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Store } from '../core/tracking/store'
import { SqliteTracker } from '../core/tracking/tracker'
import { dbPath } from '../core/tracking/home'

export interface StoreBenchOptions {
  /** Points in the long series (one key, one point per step). Default 1,000,000. */
  points?: number
  /** SqliteTracker batch size. Default 200. */
  batchSize?: number
  /** Downsampling target for the query. Default 2,000. */
  maxPoints?: number
  /** Query repetitions; the median is reported. Default 5. */
  repeats?: number
}

export interface StoreBenchResult {
  points: number
  batchSize: number
  maxPoints: number
  /** Metric points per second written through SqliteTracker.logMetrics, commits included. */
  writePointsPerSec: number
  writeSeconds: number
  /** The same per CPU second of this process (what it costs when the machine is shared). */
  writePointsPerCpuSec: number
  /** Recording cost of one training step logging 8 metrics (commits amortised), microseconds. */
  stepRecordingUs: number
  /** Median time to fetch the series downsampled to maxPoints, by step. */
  queryMs: number
  /** CPU time of this process for that query (median). */
  queryCpuMs: number
  /** The same, aligned by tokens seen (one lookup per returned point). */
  queryTokensMs: number
  returnedPoints: number
  /** Database + WAL size after writing. */
  dbMegabytes: number
}

export function runStoreBench(opts: StoreBenchOptions = {}): StoreBenchResult {
  const points = opts.points ?? 1_000_000
  const batchSize = opts.batchSize ?? 200
  const maxPoints = opts.maxPoints ?? 2000
  const repeats = opts.repeats ?? 5
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-bench-store-'))
  const store = Store.open(home)
  try {
    const run = store.createRun({ stage: 'pretrain', config: { bench: true } })
    store.startRun(run.id, { pid: process.pid, hostname: os.hostname() })

    // 1. One long series through the real tracker, a noisy decaying loss with rare spikes.
    const tracker = new SqliteTracker(store, run.id, { batchSize, flushIntervalMs: 1000 })
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    for (let step = 0; step < points; step++) {
      const spike = step % 100_003 === 50_000 ? 10 : 0
      tracker.logMetrics(step, { 'train/loss': 2 + 3 / (1 + step / 5000) + 0.1 * Math.sin(step) + spike })
    }
    tracker.flush()
    const writeSeconds = (performance.now() - t0) / 1000
    const writeCpuSeconds = cpuMs(cpu0) / 1000

    // 2. A training-like pattern: 8 metrics per step (loss, lr, grad norm, tokens ...).
    const steps = 20_000
    const t1 = performance.now()
    for (let step = 0; step < steps; step++) {
      tracker.logMetrics(step, {
        'train/tokens_seen': step * 4096,
        'train/lr': 1e-3,
        'train/grad_norm': 1,
        'train/tokens_per_s': 2000,
        'train/step_time_s': 0.5,
        'train/loss_ema': 2,
        'train/ppl': 7,
        'train/scale': 1,
      })
    }
    tracker.close()
    const stepRecordingUs = ((performance.now() - t1) * 1000) / steps

    // 3. Queries: the long series downsampled, by step and by tokens seen.
    const timeQuery = (x: 'step' | 'tokens') => {
      const times: number[] = []
      const cpuTimes: number[] = []
      let returned = 0
      for (let i = 0; i < repeats; i++) {
        const t = performance.now()
        const cpu = process.cpuUsage()
        const [series] = store.metricSeries({ runIds: [run.id], keys: ['train/loss'], x, maxPoints })
        times.push(performance.now() - t)
        cpuTimes.push(cpuMs(cpu))
        returned = series.x.length
      }
      return { ms: median(times), cpuMs: median(cpuTimes), returned }
    }
    const byStep = timeQuery('step')
    const byTokens = timeQuery('tokens')
    const file = dbPath(home)
    const bytes = fs.statSync(file).size + (fs.existsSync(file + '-wal') ? fs.statSync(file + '-wal').size : 0)
    return {
      points,
      batchSize,
      maxPoints,
      writePointsPerSec: Math.round(points / writeSeconds),
      writeSeconds: round(writeSeconds, 2),
      writePointsPerCpuSec: Math.round(points / writeCpuSeconds),
      stepRecordingUs: round(stepRecordingUs, 1),
      queryMs: round(byStep.ms, 1),
      queryCpuMs: round(byStep.cpuMs, 1),
      queryTokensMs: round(byTokens.ms, 1),
      returnedPoints: byStep.returned,
      dbMegabytes: round(bytes / 1e6, 1),
    }
  } finally {
    store.close()
    fs.rmSync(home, { recursive: true, force: true })
  }
}

/** CPU milliseconds (user + system) of this process since `since`. */
function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since)
  return (d.user + d.system) / 1000
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits))
}

function printResult(r: StoreBenchResult): void {
  console.log(`store bench: ${r.points.toLocaleString('en')} points, batches of ${r.batchSize}`)
  console.log(
    `  write        ${r.writePointsPerSec.toLocaleString('en')} points/s (${r.writeSeconds} s wall; ` +
      `${r.writePointsPerCpuSec.toLocaleString('en')} points per CPU second), db ${r.dbMegabytes} MB`,
  )
  console.log(`  per step     ${r.stepRecordingUs} µs to record 8 metrics (commits amortised)`)
  console.log(
    `  query        ${r.queryMs} ms (${r.queryCpuMs} ms CPU) for ${r.points.toLocaleString('en')} points -> ${r.returnedPoints} (max ${r.maxPoints}), by step`,
  )
  console.log(`               ${r.queryTokensMs} ms aligned by tokens seen`)
}

function parseArgs(argv: string[]): StoreBenchOptions & { json: boolean } {
  const number = (flag: string) => {
    const i = argv.indexOf(flag)
    if (i < 0) return undefined
    const n = Number(argv[i + 1])
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag}: expected a positive whole number, got ${argv[i + 1]}`)
    return n
  }
  return { points: number('--points'), batchSize: number('--batch'), maxPoints: number('--max-points'), json: argv.includes('--json') }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { json, ...opts } = parseArgs(process.argv.slice(2))
  const result = runStoreBench(opts)
  if (json) console.log(JSON.stringify(result))
  else printResult(result)
}
