// `npm run soak [-- --seconds N] [-- --home DIR]`: a bounded load and fault test of the store,
// the job runner, the CLI and web mode together, on loopback only. Not part of `npm test`.
//
// For N seconds (default 180) it keeps going at once:
//   - tiny pretraining runs from the CLI (`workbench pretrain --json`) and from the API;
//   - a steady stream of API reads and a few Server-Sent Events listeners;
//   - random SIGKILLs of training workers, each followed by a resume (CLI or API at random);
//   - an outside `sqlite3` reader and a `VACUUM INTO` backup every few seconds.
// Then it lets every run finish (resuming the interrupted ones) and prints what it did and what it
// found: requests served and failed, runs killed / resumed / finished, rows lost or duplicated
// (each run's metrics against what its workers reported, and against the steps it must have),
// integrity_check, and server restarts (the server is restarted only when it died).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SQLITE3 = '/usr/bin/sqlite3'

// A tiny run: log every step, samples and checkpoints often enough to be killed between them.
const MAX_STEPS = 16
const CONFIG = {
  vocab_size: 280,
  dim: 32,
  n_layers: 2,
  n_heads: 4,
  n_kv_heads: 2,
  seq_len: 32,
  batch_size: 2,
  max_steps: MAX_STEPS,
  warmup_steps: 2,
  log_every: 1,
  eval_every: 8,
  eval_batches: 1,
  sample_every: 8,
  sample_count: 1,
  sample_tokens: 4,
  checkpoint_every: 4,
}

interface Args {
  seconds: number
  home: string
  keep: boolean
}

function parseArgs(argv: string[]): Args {
  const out: Args = { seconds: 180, home: '', keep: false }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') out.seconds = Number(argv[++i])
    else if (argv[i] === '--home') out.home = path.resolve(argv[++i] ?? '')
    else if (argv[i] === '--keep') out.keep = true
    else throw new Error(`soak: unknown option ${argv[i]} (known: --seconds N, --home DIR, --keep)`)
  }
  if (!Number.isFinite(out.seconds) || out.seconds <= 0) throw new Error('soak: --seconds must be a positive number')
  if (!out.home) out.home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-soak-'))
  return out
}

/** Everything the soak counts; printed at the end. */
const tally = {
  requestsServed: 0,
  requestsFailed: 0,
  failures: new Map<string, number>(),
  sseListeners: 0,
  sseEvents: 0,
  sseReconnects: 0,
  runsStartedCli: 0,
  runsStartedApi: 0,
  runsKilled: 0,
  runsResumedCli: 0,
  runsResumedApi: 0,
  outsideReads: 0,
  outsideReadsFailed: 0,
  backups: 0,
  backupsBad: 0,
  serverRestarts: 0,
}

/** An error's message with its cause's code (fetch reports "fetch failed" and hides why). */
function why(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } }
  const cause = e.cause ? ` (${e.cause.code ?? e.cause.message ?? 'no detail'})` : ''
  return `${e.message}${cause}`.slice(0, 160)
}

function fail(what: string): void {
  tally.requestsFailed++
  tally.failures.set(what, (tally.failures.get(what) ?? 0) + 1)
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const pick = <T>(items: T[]): T => items[Math.floor(Math.random() * items.length)]

/** (key@step) pairs each run's workers reported (CLI --json lines and SSE run:metrics). */
const reported = new Map<string, Set<string>>()
function noteReported(runId: string, step: number, values: Record<string, unknown>): void {
  const set = reported.get(runId) ?? new Set<string>()
  for (const key of Object.keys(values)) set.add(`${key}@${step}`)
  reported.set(runId, set)
}

// ------------------------------------------------------------------------------------- server

const env = { ...process.env, WORKBENCH_BACKEND: 'wasm', WORKBENCH_TOKEN: 'soak-' + Math.random().toString(36).slice(2) }

class ServerProcess {
  child: ChildProcess | null = null
  port = 0
  stopping = false
  stderr = ''

  constructor(private readonly home: string) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'electron/server/serve.ts', '--home', this.home, '--port', '0'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-20_000)))
    this.port = await new Promise<number>((resolve, reject) => {
      let out = ''
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /127\.0\.0\.1:(\d+)\//.exec(out)
        if (m) resolve(Number(m[1]))
      })
      child.once('exit', (code) => reject(new Error(`the server exited (${code}) before it listened:\n${this.stderr}`)))
    })
    child.once('exit', (code, signal) => {
      if (this.stopping) return
      console.log(`soak: the server died (code ${code}, signal ${signal}); restarting it`)
      tally.serverRestarts++
      void this.start()
    })
  }

  async stop(): Promise<void> {
    this.stopping = true
    if (!this.child || this.child.exitCode !== null) return
    const exited = new Promise((r) => this.child!.once('exit', r))
    this.child.kill('SIGTERM')
    await exited
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each caller knows its channel's result
  async api(channel: string, args: unknown): Promise<any> {
    const res = await fetch(`http://127.0.0.1:${this.port}/api/${channel}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-workbench-token': env.WORKBENCH_TOKEN },
      body: JSON.stringify(args),
    })
    const body = (await res.json()) as { ok: boolean; result?: unknown; error?: string }
    if (!body.ok) throw new Error(`${channel}: ${body.error}`)
    return body.result
  }
}

// ------------------------------------------------------------------------------------- load

/** API reads in a loop: list, then details, metrics, events and samples of a random run. */
async function readLoop(server: ServerProcess, until: () => boolean): Promise<void> {
  while (!until()) {
    for (const [channel, args] of await readCalls(server)) {
      try {
        await server.api(channel, args)
        tally.requestsServed++
      } catch (error) {
        fail(`${channel}: ${why(error)}`)
      }
    }
    await sleep(50)
  }
}

async function readCalls(server: ServerProcess): Promise<[string, unknown][]> {
  let runs: { id: string }[] = []
  try {
    runs = await server.api('runs:list', {})
    tally.requestsServed++
  } catch (error) {
    fail(`runs:list: ${why(error)}`)
  }
  if (runs.length === 0) return []
  const id = pick(runs).id
  return [
    ['runs:get', { id }],
    ['runs:metrics', { id, maxPoints: 200 }],
    ['runs:events', { id }],
    ['runs:samples', { id }],
  ]
}

/** One SSE listener: reconnects when the stream ends (e.g. a server restart). */
async function sseListener(server: ServerProcess, until: () => boolean): Promise<void> {
  tally.sseListeners++
  while (!until()) {
    const controller = new AbortController()
    const stop = setInterval(() => until() && controller.abort(), 500)
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/api/events?token=${env.WORKBENCH_TOKEN}`, { signal: controller.signal })
      const decoder = new TextDecoder()
      let buffer = ''
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let end: number
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          onSseMessage(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
        }
      }
    } catch {
      // aborted at the end, or the server went away: reconnect below
    } finally {
      clearInterval(stop)
    }
    if (!until()) {
      tally.sseReconnects++
      await sleep(500)
    }
  }
}

function onSseMessage(message: string): void {
  const event = /^event: (.*)$/m.exec(message)?.[1]
  const data = /^data: (.*)$/m.exec(message)?.[1]
  if (!event || !data) return
  tally.sseEvents++
  if (event === 'run:metrics') {
    const m = JSON.parse(data) as { id: string; step: number; values: Record<string, unknown> }
    noteReported(m.id, m.step, m.values)
  }
}

// ------------------------------------------------------------------------------------- runs

const cliChildren = new Set<ChildProcess>()

/** `workbench <args> --json`, recording the metrics it reports; resolves with the run id. */
function runCli(args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/workbench.mjs', ...args, '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
    cliChildren.add(child)
    let runId: string | null = null
    let buffer = ''
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString()
      let end: number
      while ((end = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, end)
        buffer = buffer.slice(end + 1)
        try {
          const { type, run_id, step, ...values } = JSON.parse(line) as Record<string, unknown>
          if (typeof run_id === 'string') runId = run_id
          if (type === 'metric' && typeof run_id === 'string') noteReported(run_id, step as number, values)
        } catch {
          // not a JSON line
        }
      }
    })
    child.stderr!.resume()
    child.on('close', () => {
      cliChildren.delete(child)
      resolve(runId)
    })
  })
}

function writeConfig(home: string, data: string): string {
  const file = path.join(home, 'soak-config.json')
  fs.writeFileSync(file, JSON.stringify({ ...CONFIG, data: [data] }))
  return file
}

/** Workers of running runs, from the store (read-only, like any outside tool would). */
function runningWorkers(home: string): { id: string; pid: number }[] {
  const db = new Database(path.join(home, 'workbench.db'), { readonly: true, timeout: 5000 })
  try {
    return db.prepare("SELECT id, pid FROM runs WHERE status = 'running' AND pid IS NOT NULL").all() as { id: string; pid: number }[]
  } finally {
    db.close()
  }
}

function runStatuses(home: string): Map<string, string> {
  const db = new Database(path.join(home, 'workbench.db'), { readonly: true, timeout: 5000 })
  try {
    const rows = db.prepare('SELECT id, status FROM runs').all() as { id: string; status: string }[]
    return new Map(rows.map((r) => [r.id, r.status]))
  } finally {
    db.close()
  }
}

function unfinishedRuns(home: string): { id: string; name: string; status: string; error: string | null }[] {
  const db = new Database(path.join(home, 'workbench.db'), { readonly: true, timeout: 5000 })
  try {
    return db.prepare("SELECT id, name, status, error FROM runs WHERE status != 'finished'").all() as { id: string; name: string; status: string; error: string | null }[]
  } finally {
    db.close()
  }
}

/** Resumes a run from the CLI or the API, at random, once it is no longer 'running'. */
async function resumeWhenDown(home: string, server: ServerProcess, id: string): Promise<void> {
  for (let i = 0; i < 40 && runStatuses(home).get(id) === 'running'; i++) {
    // The server's store watcher (every 3 s) or any Store.open marks it interrupted.
    await sleep(500)
  }
  if (Math.random() < 0.5) {
    tally.runsResumedCli++
    void runCli(['resume', id, '--home', home])
  } else {
    try {
      await server.api('runs:resume', { id })
      tally.runsResumedApi++
    } catch (error) {
      fail(`runs:resume: ${why(error)}`)
    }
  }
}

// ------------------------------------------------------------------------------------- outside tools

function outsideRead(db: string): void {
  const r = spawnSync(SQLITE3, ['-cmd', '.timeout 5000', db, 'select count(*) from runs; select count(*) from metrics;'], { encoding: 'utf8' })
  if (r.status === 0) tally.outsideReads++
  else {
    tally.outsideReadsFailed++
    console.log(`soak: sqlite3 reader failed: ${r.stderr.trim()}`)
  }
}

function backup(db: string, dir: string): void {
  const file = path.join(dir, `backup-${tally.backups + tally.backupsBad}.db`)
  const r = spawnSync(SQLITE3, ['-cmd', '.timeout 5000', db, `VACUUM INTO '${file}'`], { encoding: 'utf8' })
  const check = r.status === 0 ? spawnSync(SQLITE3, [file, 'pragma integrity_check;'], { encoding: 'utf8' }).stdout.trim() : r.stderr.trim()
  if (check === 'ok') tally.backups++
  else {
    tally.backupsBad++
    console.log(`soak: backup ${file} failed: ${check}`)
  }
  fs.rmSync(file, { force: true })
}

// ------------------------------------------------------------------------------------- checks

interface RowCheck {
  runsChecked: number
  metricsLost: number
  metricsReportedLost: number
  samplesLost: number
  samplesDuplicated: number
  eventsDuplicated: number
  examples: string[]
}

/**
 * Each finished run must have train/loss at every step 1..MAX_STEPS, every (key, step) its workers
 * reported, one sample per sample step, and no event twice (same kind, step and message).
 */
function checkRows(home: string): RowCheck {
  const db = new Database(path.join(home, 'workbench.db'), { readonly: true })
  const out: RowCheck = { runsChecked: 0, metricsLost: 0, metricsReportedLost: 0, samplesLost: 0, samplesDuplicated: 0, eventsDuplicated: 0, examples: [] }
  try {
    const finished = db.prepare("SELECT id FROM runs WHERE status = 'finished'").all() as { id: string }[]
    for (const { id } of finished) {
      out.runsChecked++
      const metrics = new Set((db.prepare('SELECT key, step FROM metrics WHERE run_id = ?').all(id) as { key: string; step: number }[]).map((m) => `${m.key}@${m.step}`))
      for (let step = 1; step <= MAX_STEPS; step++) {
        if (!metrics.has(`train/loss@${step}`)) {
          out.metricsLost++
          out.examples.push(`${id}: train/loss at step ${step} missing`)
        }
      }
      for (const pair of reported.get(id) ?? []) {
        if (!metrics.has(pair)) {
          out.metricsReportedLost++
          out.examples.push(`${id}: reported ${pair} missing`)
        }
      }
      const samples = db.prepare('SELECT step, count(*) AS n FROM samples WHERE run_id = ? GROUP BY step').all(id) as { step: number; n: number }[]
      const perStep = new Map(samples.map((s) => [s.step, s.n]))
      for (let step = CONFIG.sample_every; step <= MAX_STEPS; step += CONFIG.sample_every) {
        const n = perStep.get(step) ?? 0
        if (n < CONFIG.sample_count) out.samplesLost += CONFIG.sample_count - n
        if (n > CONFIG.sample_count) {
          out.samplesDuplicated += n - CONFIG.sample_count
          out.examples.push(`${id}: ${n} samples at step ${step}`)
        }
      }
      const events = db
        .prepare('SELECT kind, step, message, count(*) AS n FROM events WHERE run_id = ? GROUP BY kind, step, message HAVING n > 1')
        .all(id) as { kind: string; step: number | null; message: string; n: number }[]
      for (const e of events) {
        out.eventsDuplicated += e.n - 1
        out.examples.push(`${id}: event "${e.kind}: ${e.message.slice(0, 60)}" at step ${e.step} x${e.n}`)
      }
    }
  } finally {
    db.close()
  }
  return out
}

// ------------------------------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  if (!fs.existsSync(SQLITE3)) throw new Error(`soak needs ${SQLITE3} (apt-get install sqlite3)`)
  const home = args.home
  const dbFile = path.join(home, 'workbench.db')
  fs.mkdirSync(path.join(home, 'datasets'), { recursive: true })
  const data = path.join(home, 'datasets', 'soak.txt')
  fs.writeFileSync(data, Array.from({ length: 300 }, (_, i) => `Line ${i}: the ${['cat', 'dog', 'fox'][i % 3]} sees tree ${i % 11}.`).join('\n'))
  const configFile = writeConfig(home, data)
  const backups = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-soak-backups-'))
  console.log(`soak: ${args.seconds} s in ${home}`)

  const server = new ServerProcess(home)
  await server.start()
  const started = Date.now()
  const deadline = started + args.seconds * 1000
  const over = () => Date.now() >= deadline
  const background: Promise<void>[] = []

  // Reads and listeners run until the very end (including the drain below).
  let finishedAll = false
  const readsOver = () => finishedAll
  for (let i = 0; i < 3; i++) background.push(readLoop(server, readsOver))
  for (let i = 0; i < 3; i++) background.push(sseListener(server, readsOver))

  let lastRead = 0
  let lastBackup = 0
  let lastKill = Date.now()
  let lastApiRun = 0
  while (!over()) {
    const now = Date.now()
    // Up to two CLI runs at a time, plus an API run every ~20 s when none is waiting (the server
    // runs one at a time, so a longer queue would only grow).
    if (cliChildren.size < 2) {
      tally.runsStartedCli++
      void runCli(['pretrain', '--home', home, '--config', configFile, '--name', `cli-${tally.runsStartedCli}`])
    }
    const waiting = [...runStatuses(home).values()].includes('queued')
    if (now - lastApiRun > 20_000 && !waiting) {
      lastApiRun = now
      try {
        await server.api('runs:create', { stage: 'pretrain', config: { ...CONFIG, data: [data] }, name: `api-${tally.runsStartedApi + 1}` })
        tally.runsStartedApi++
      } catch (error) {
        fail(`runs:create: ${why(error)}`)
      }
    }
    if (now - lastRead > 2000) {
      lastRead = now
      outsideRead(dbFile)
    }
    if (now - lastBackup > 5000) {
      lastBackup = now
      backup(dbFile, backups)
    }
    if (now - lastKill > 8000 + Math.random() * 8000) {
      lastKill = now
      const workers = runningWorkers(home)
      if (workers.length > 0) {
        const victim = pick(workers)
        try {
          process.kill(victim.pid, 'SIGKILL')
          tally.runsKilled++
          void resumeWhenDown(home, server, victim.id)
        } catch {
          // it ended on its own in the meantime
        }
      }
    }
    await sleep(250)
  }

  // Drain: no new runs or kills; resume whatever is interrupted until every run finished.
  console.log('soak: time is up; letting every run finish')
  const drainResumed = new Map<string, number>()
  const drainUntil = Date.now() + Math.max(180_000, args.seconds * 1000)
  while (Date.now() < drainUntil) {
    const statuses = [...runStatuses(home).entries()]
    const open = statuses.filter(([, s]) => s === 'queued' || s === 'running')
    const broken = statuses.filter(([, s]) => s === 'interrupted' || s === 'stopped')
    if (open.length === 0 && broken.length === 0 && cliChildren.size === 0) break
    // A run resumed through the API stays 'interrupted' until its worker starts: resume it once.
    if (open.length === 0 && cliChildren.size === 0) {
      for (const [id] of broken) {
        if (Date.now() - (drainResumed.get(id) ?? 0) < 60_000) continue
        drainResumed.set(id, Date.now())
        await resumeWhenDown(home, server, id)
      }
    }
    await sleep(2000)
  }
  finishedAll = true
  await Promise.all(background)
  outsideRead(dbFile)
  const walAlive = fs.existsSync(`${dbFile}-wal`)
  await server.stop()
  // Whatever did not finish within the drain time: end our own processes, so none outlives the soak.
  for (const child of cliChildren) child.kill('SIGKILL')
  for (const { pid } of runningWorkers(home)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }

  const integrity = spawnSync(SQLITE3, [dbFile, 'pragma integrity_check;'], { encoding: 'utf8' }).stdout.trim()
  const statuses = [...runStatuses(home).values()]
  const count = (s: string) => statuses.filter((x) => x === s).length
  const rows = checkRows(home)
  const serverErrors = server.stderr.split('\n').filter((l) => l.trim() !== '')

  console.log(`
soak finished after ${Math.round((Date.now() - started) / 1000)} s (${args.seconds} s of load)
  requests       served ${tally.requestsServed}, failed ${tally.requestsFailed}
  sse            ${tally.sseListeners} listeners, ${tally.sseEvents} events, ${tally.sseReconnects} reconnects
  runs           started ${tally.runsStartedCli} from the CLI + ${tally.runsStartedApi} from the API; killed ${tally.runsKilled};` +
    ` resumed ${tally.runsResumedCli} (CLI) + ${tally.runsResumedApi} (API)
  final status   finished ${count('finished')}, failed ${count('failed')}, interrupted ${count('interrupted')}, stopped ${count('stopped')},` +
    ` running ${count('running')}, queued ${count('queued')}
  rows           ${rows.runsChecked} finished runs checked: train/loss steps lost ${rows.metricsLost}, reported metrics lost` +
    ` ${rows.metricsReportedLost}, samples lost ${rows.samplesLost}, samples duplicated ${rows.samplesDuplicated}, events duplicated ${rows.eventsDuplicated}
  outside tools  sqlite3 reads ${tally.outsideReads} ok / ${tally.outsideReadsFailed} failed; VACUUM INTO backups ${tally.backups} ok / ${tally.backupsBad} bad;` +
    ` -wal present while serving: ${walAlive}
  database       integrity_check: ${integrity}
  server         restarts after a crash: ${tally.serverRestarts}; stderr lines: ${serverErrors.length}`)
  for (const [what, n] of tally.failures) console.log(`  failed request x${n}: ${what}`)
  for (const line of rows.examples.slice(0, 15)) console.log(`  row: ${line}`)
  for (const run of unfinishedRuns(home)) console.log(`  ${run.status} run ${run.id} (${run.name}): ${(run.error ?? 'no error text').slice(0, 600)}`)
  for (const line of serverErrors.slice(-10)) console.log(`  server stderr: ${line}`)

  fs.rmSync(backups, { recursive: true, force: true })
  if (!args.keep && !process.argv.includes('--home')) fs.rmSync(home, { recursive: true, force: true })
  const clean =
    tally.requestsFailed === 0 &&
    tally.serverRestarts === 0 &&
    integrity === 'ok' &&
    count('finished') === statuses.length &&
    rows.metricsLost + rows.metricsReportedLost + rows.samplesLost + rows.samplesDuplicated + rows.eventsDuplicated === 0
  process.exit(clean ? 0 : 1)
}

main().catch((error) => {
  console.error(`soak: ${(error as Error).stack ?? error}`)
  for (const child of cliChildren) child.kill('SIGKILL')
  process.exit(2)
})
