// `workbench import-job DIR`: a cluster run's results recorded as a workbench run. Reads the
// Hugging Face Trainer's trainer_state.json (log_history) and the final checkpoint, maps the
// metrics to our names, and links the run to the one it was exported from (workbench-job.json).
import fs from 'node:fs'
import path from 'node:path'
import { isModelCheckpoint } from '../jobs/checkpoints'
import { runDir } from '../tracking/home'
import { Store } from '../tracking/store'
import { JOB_MANIFEST } from './exportJob'

/** The Trainer's log_history keys -> our metric names. */
export const METRIC_NAMES: Record<string, string> = { loss: 'train/loss', learning_rate: 'train/lr', grad_norm: 'train/grad_norm', eval_loss: 'eval/loss', epoch: 'train/epoch' }

export interface ImportJobResult {
  runId: string
  parentRunId?: string
  points: number
  checkpointDir?: string
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`import-job: ${file} is not valid JSON (${(err as Error).message})`)
  }
}

/** output/trainer_state.json, else the one in the checkpoint-N folder with the highest N. */
function findOutputs(dir: string): { stateFile: string; checkpoint?: string } {
  const output = fs.existsSync(path.join(dir, 'output')) ? path.join(dir, 'output') : dir
  const checkpoints = fs.existsSync(output)
    ? fs.readdirSync(output).filter((f) => /^checkpoint-\d+$/.test(f)).sort((a, b) => Number(b.split('-')[1]) - Number(a.split('-')[1])).map((f) => path.join(output, f))
    : []
  const stateFile = [output, ...checkpoints].map((d) => path.join(d, 'trainer_state.json')).find((f) => fs.existsSync(f))
  if (!stateFile) throw new Error(`import-job: no trainer_state.json in ${output} or its checkpoint-N folders`)
  const checkpoint = [output, ...checkpoints].find((d) => isModelCheckpoint(d))
  return { stateFile, ...(checkpoint ? { checkpoint } : {}) }
}

function runExists(store: Store, id: string): boolean {
  try {
    store.getRunRecord(id)
    return true
  } catch {
    return false
  }
}

export function importJob(home: string, folder: string, opts: { name?: string } = {}): ImportJobResult {
  const dir = path.resolve(folder)
  const manifestFile = path.join(dir, JOB_MANIFEST)
  const manifest = fs.existsSync(manifestFile) ? readJson(manifestFile) : {}
  const { stateFile, checkpoint } = findOutputs(dir)
  const state = readJson(stateFile)
  if (!Array.isArray(state.log_history)) throw new Error(`import-job: ${stateFile} has no "log_history" list`)

  const store = Store.open(home)
  try {
    const source = typeof manifest.source_run === 'string' ? manifest.source_run : undefined
    // The source run may have been deleted since; the import is still recorded, unlinked.
    const parent = source && runExists(store, source) ? source : undefined
    const run = store.createRun({
      stage: 'import-job',
      name: opts.name ?? `${manifest.target ?? 'cluster'} ${manifest.stage ?? 'run'}`,
      config: { source: dir, target: manifest.target ?? null, stage: manifest.stage ?? null, unmapped: manifest.unmapped ?? [] },
      parents: parent ? [{ runId: parent, role: 'source' }] : [],
      status: 'running',
    })
    try {
      const metrics = (state.log_history as Array<Record<string, unknown>>).flatMap((entry, i) => {
        const step = entry.step
        if (!Number.isInteger(step)) throw new Error(`import-job: ${stateFile}: log_history[${i}] has no integer "step"`)
        return Object.entries(METRIC_NAMES)
          .filter(([key]) => typeof entry[key] === 'number')
          .map(([key, ours]) => ({ step: step as number, key: ours, value: entry[key] as number, wallTime: Date.now() }))
      })
      store.recordBatch(run.id, { metrics })
      store.logParams(run.id, { engine: String(manifest.target ?? 'unknown'), global_step: Number(state.global_step ?? 0) })
      let checkpointDir: string | undefined
      if (checkpoint) {
        checkpointDir = path.join(runDir(home, run.id), 'model')
        fs.cpSync(checkpoint, checkpointDir, { recursive: true, filter: (src) => !/(optimizer|scheduler|rng_state|global_step)/.test(path.basename(src)) })
        store.addArtifact(run.id, { kind: 'checkpoint', path: checkpointDir, step: Number(state.global_step ?? 0), meta: { imported_from: checkpoint } })
      }
      store.finishRun(run.id, 'finished')
      return { runId: run.id, points: metrics.length, ...(parent ? { parentRunId: parent } : {}), ...(checkpointDir ? { checkpointDir } : {}) }
    } catch (err) {
      store.finishRun(run.id, 'failed', (err as Error).message)
      throw err
    }
  } finally {
    store.close()
  }
}
