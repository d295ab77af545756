// Importing a Hugging Face Llama folder (already on disk) into the workbench: validate it fully
// (architecture, shapes, tokenizer) by loading it as every consumer will, convert it into a
// workbench checkpoint in a run folder (float32 model.safetensors, config.json, the tokenizer files,
// workbench.json), and record it as a finished run of stage 'import' with one 'checkpoint'
// artifact, so SFT, generate and the app can start from it by run id and lineage shows where
// models came from.
import fs from 'node:fs'
import path from 'node:path'
import { importHfCheckpoint } from '../model/checkpoint'
import { loadModel } from '../model/load'
import { countParameters } from '../model/config'
import { Store } from '../tracking/store'
import { SqliteTracker } from '../tracking/tracker'
import { runDir } from '../tracking/home'

export interface ImportResult {
  runId: string
  checkpointDir: string
  nParams: number
  vocabSize: number
  warnings: string[]
}

export function importHfFolder(home: string, folder: string, opts: { name?: string; experiment?: string } = {}): ImportResult {
  const source = path.resolve(folder)
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) throw new Error(`import-hf: ${folder} is not a folder`)
  // Loading it is the validation: config, architecture, every shape, the tokenizer and its fit.
  const { tokenizer, config, kind, grownRows, dispose } = loadModel(source, { scoringOnly: true })
  dispose()
  const store = Store.open(home)
  try {
    const run = store.createRun({
      stage: 'import',
      name: opts.name ?? path.basename(source),
      experiment: opts.experiment,
      config: { source },
      // Owned by this process from the start (pid and host recorded by the store).
      status: 'running',
    })
    try {
      const target = importHfCheckpoint(source, path.join(runDir(home, run.id), 'model'), { runId: run.id }).dir
      const tracker = new SqliteTracker(store, run.id)
      const nParams = countParameters(config)
      tracker.logParams({ n_params: nParams, vocab_size: config.vocab_size, source, kind })
      tracker.logArtifact({ kind: 'checkpoint', path: target, meta: { imported_from: source, kind } })
      tracker.flush()
      store.finishRun(run.id, 'finished')
      const warnings = grownRows > 0
        ? [`the tokenizer lacked ${tokenizer.addedOnLoad.join(', ')}: added as new tokens; the embedding grows by ${grownRows} rows (at the mean of the others) whenever the model is loaded, until fine-tuning teaches them`]
        : []
      return { runId: run.id, checkpointDir: target, nParams, vocabSize: config.vocab_size, warnings }
    } catch (err) {
      store.finishRun(run.id, 'failed', (err as Error).message)
      throw err
    }
  } finally {
    store.close()
  }
}
