// The WebGPU backend in Node through Dawn, checked on a machine whose GPU driver Dawn can use (the
// development and CI machines have none: there the Chromium checks in tests/core/webgpu.browser.test.ts
// run the same workload on a software adapter). It runs, on one process:
//   1. the tiny model's logits, gradients and an AdamW step on the cpu backend and on webgpu, from
//      one seeded case (scripts/webgpu/workload.ts), with the relative errors the other backends meet;
//   2. greedy generation (KV cache) on both: the tokens must be identical;
//   3. a real pretraining run as a job runs one: preflight, a run row in a fresh store, the job
//      worker's code (runWorker) with backend webgpu, evaluation and checkpoints, then the run read
//      back from the store;
//   4. timings of training steps and batched generation per preset (the bench's figures).
// It exits 1 when a check fails, and writes everything it measured as JSON (--out FILE).
//
//   node --import tsx scripts/webgpu/dawn-check.ts [--out dawn-check.json] [--steps 5] [--skip-timing]
//                                                  [--backend webgpu]   (another backend checks this script itself)
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { backendPreference, initBackend, type BackendPreference } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { MODEL_PRESETS } from '../../core/model/config'
import { recordRun } from '../../core/jobs/runner'
import { runWorker } from '../../core/jobs/worker'
import { Store } from '../../core/tracking/store'
import { relativeError } from '../../tests/numerics'
import { greedyTokens, makeStepCase, runStepCase, timeGeneration, timeTraining, type StepResult } from './workload'

/** The tolerances the Chromium WebGPU test holds against wasm and PyTorch (float32 throughout). */
const TOLERANCE = { logits: 1e-4, grads: 1e-3, weights: 1e-4 }

interface Check {
  name: string
  ok: boolean
  detail: string
}

const checks: Check[] = []
function check(name: string, ok: boolean, detail: string): void {
  checks.push({ name, ok, detail })
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`)
}

function worstRelative(a: Record<string, number[]>, b: Record<string, number[]>): { name: string; error: number } {
  let worst = { name: '', error: 0 }
  for (const name of Object.keys(a)) {
    const error = relativeError(b[name], a[name])
    if (error > worst.error) worst = { name, error }
  }
  return worst
}

/** 1 and 2: the same case on cpu (the reference) and on webgpu. */
async function compareWithCpu(backend: BackendPreference): Promise<Record<string, unknown>> {
  const stepCase = makeStepCase()
  const prompts = [[1, 5, 9, 2], [7, 3, 3, 8]]
  await initBackend('cpu')
  const cpu: StepResult = await runStepCase(stepCase)
  const cpuTokens = await greedyTokens(stepCase, prompts, 12)
  const gpu = await initBackend(backend)
  console.log(`backend: ${gpu.name} ${gpu.version}, ${gpu.device}`)
  const got = await runStepCase(stepCase)
  const gpuTokens = await greedyTokens(stepCase, prompts, 12)
  const logits = relativeError(got.logits, cpu.logits)
  const grads = worstRelative(cpu.grads, got.grads)
  const weights = worstRelative(cpu.weights_after, got.weights_after)
  check('logits vs cpu', logits < TOLERANCE.logits, `relative error ${logits.toExponential(2)} (limit ${TOLERANCE.logits})`)
  check('gradients vs cpu', grads.error < TOLERANCE.grads, `worst relative error ${grads.error.toExponential(2)} (${grads.name}; limit ${TOLERANCE.grads})`)
  check('weights after AdamW vs cpu', weights.error < TOLERANCE.weights, `worst relative error ${weights.error.toExponential(2)} (${weights.name}; limit ${TOLERANCE.weights})`)
  check('loss after the step', got.loss_after < got.loss, `${got.loss.toFixed(5)} -> ${got.loss_after.toFixed(5)} (cpu ${cpu.loss.toFixed(5)} -> ${cpu.loss_after.toFixed(5)})`)
  const same = JSON.stringify(gpuTokens) === JSON.stringify(cpuTokens)
  check('greedy tokens vs cpu', same, same ? `identical (${cpuTokens.map((r) => r.length).join(', ')} tokens)` : `webgpu ${JSON.stringify(gpuTokens)} vs cpu ${JSON.stringify(cpuTokens)}`)
  return { backend: gpu, logits, grads, weights, loss: [got.loss, got.loss_after], cpuLoss: [cpu.loss, cpu.loss_after] }
}

/** 3: a pretraining job on webgpu through the worker's own code, recorded in a fresh store. */
async function pretrainingJob(backend: BackendPreference): Promise<Record<string, unknown>> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-dawn-'))
  const data = path.join(home, 'notes.txt')
  const lines = Array.from({ length: 400 }, (_, i) => `Note ${i}: the ${['red', 'green', 'blue', 'amber'][i % 4]} lamp by door ${i % 7} was ${i % 3 === 0 ? 'lit' : 'dark'} at ${i % 12} o'clock.`)
  fs.writeFileSync(data, lines.join('\n') + '\n')
  const config = { data: [data], vocab_size: 300, dim: 64, n_layers: 2, n_heads: 4, n_kv_heads: 2, seq_len: 64, batch_size: 8, max_steps: 60, warmup_steps: 5, log_every: 10, eval_every: 20, sample_every: 0, checkpoint_every: 30 }
  const store = Store.open(home)
  let runId: string
  try {
    runId = recordRun(store, { stage: 'pretrain', config, name: 'dawn-check' })
  } finally {
    store.close()
  }
  const started = performance.now()
  const status = await runWorker({ home, runId, backend, resume: false })
  const seconds = (performance.now() - started) / 1000
  const after = Store.open(home)
  try {
    const record = after.getRunRecord(runId)
    const losses = after.metricHistory(runId, 'train/loss').map((p) => p.value)
    const evalLoss = after.metricHistory(runId, 'eval/loss').map((p) => p.value)
    const gradNorms = after.metricHistory(runId, 'train/grad_norm').map((p) => p.value)
    const checkpoints = fs.readdirSync(path.join(home, 'runs', runId, 'checkpoints'))
    check('pretraining job finished', status === 'finished' && record.status === 'finished', `status ${record.status}${record.error ? `: ${record.error}` : ''}, ${seconds.toFixed(1)} s, backend recorded as ${JSON.stringify(record.backend ?? null)}`)
    check('its loss fell', losses.length >= 2 && losses[losses.length - 1] < losses[0], `train/loss ${losses.map((l) => l.toFixed(3)).join(' ')}; eval/loss ${evalLoss.map((l) => l.toFixed(3)).join(' ')}`)
    check('its gradient norms were measured', gradNorms.length > 0 && gradNorms.every((n) => Number.isFinite(n) && n > 0), `train/grad_norm ${gradNorms.map((n) => n.toFixed(3)).join(' ')}`)
    check('it saved checkpoints', checkpoints.length >= 2, checkpoints.join(', '))
    return { runId, seconds, losses, evalLoss, gradNorms, checkpoints, status: record.status }
  } finally {
    after.close()
  }
}

/** 4: the bench's figures on this adapter. */
async function timings(steps: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = []
  const shapes = [
    { preset: 'tiny' as const, batch: 16, seq: 128 },
    { preset: 'small' as const, batch: 8, seq: 256 },
  ]
  for (const { preset, batch, seq } of shapes) {
    const train = await timeTraining(MODEL_PRESETS[preset], batch, seq, steps)
    const row: Record<string, unknown> = { preset, batch, seq, train_tokens_per_s: Math.round(train.tokensPerSecond) }
    for (const b of [1, 8, 32]) row[`generate_tokens_per_s_b${b}`] = Math.round((await timeGeneration(MODEL_PRESETS[preset], b, 64)).tokensPerSecond)
    console.log(`timing ${JSON.stringify(row)}`)
    rows.push(row)
  }
  return rows
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const option = (name: string) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const out = option('--out')
  const steps = Number(option('--steps') ?? 5)
  const backend = backendPreference(option('--backend') ?? 'webgpu')
  const result: Record<string, unknown> = { started: new Date().toISOString(), node: process.version, tfjs: tf.version_core }
  try {
    result.compare = await compareWithCpu(backend)
    result.job = await pretrainingJob(backend)
    if (!args.includes('--skip-timing')) result.timings = await timings(steps)
  } catch (err) {
    check('no exception', false, err instanceof Error ? (err.stack ?? err.message) : String(err))
  }
  result.checks = checks
  if (out) fs.writeFileSync(out, JSON.stringify(result, null, 2))
  const failed = checks.filter((c) => !c.ok)
  console.log(failed.length === 0 ? `all ${checks.length} checks passed` : `${failed.length} of ${checks.length} checks failed`)
  process.exit(failed.length === 0 ? 0 : 1)
}

void main()
