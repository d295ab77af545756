// Importing a Hugging Face Llama folder (already on disk) into the workbench: validate it fully
// (architecture, shapes, tokenizer), copy the files the workbench uses into a run folder, and
// record it as a finished run of stage 'import' with one 'checkpoint' artifact, so SFT, generate
// and the app can start from it by run id and lineage shows where models came from.
import fs from 'node:fs'
import path from 'node:path'
import { loadModelFrom } from '../train/stages/common'
import { countParameters } from '../model/config'
import { Store } from '../tracking/store'
import { SqliteTracker } from '../tracking/tracker'
import { runDir } from '../tracking/home'

/** Files of a Hugging Face folder worth keeping (weights, config, tokenizer). */
const KEEP = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|.*\.safetensors|model\.safetensors\.index\.json|workbench\.json)$/

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
  // Loading it is the validation: config, architecture, every shape, the tokenizer.
  const { model, tokenizer, config } = loadModelFrom(source)
  model.dispose()
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
      const target = path.join(runDir(home, run.id), 'model')
      fs.mkdirSync(target, { recursive: true })
      for (const file of fs.readdirSync(source)) {
        if (KEEP.test(file) && fs.statSync(path.join(source, file)).isFile()) fs.copyFileSync(path.join(source, file), path.join(target, file))
      }
      const tracker = new SqliteTracker(store, run.id)
      const nParams = countParameters(config)
      tracker.logParams({ n_params: nParams, vocab_size: config.vocab_size, source })
      tracker.logArtifact({ kind: 'checkpoint', path: target, meta: { imported_from: source } })
      tracker.flush()
      store.finishRun(run.id, 'finished')
      const warnings = tokenizer.addedOnLoad.length > 0
        ? [`the tokenizer lacked ${tokenizer.addedOnLoad.join(', ')}: added as new tokens (the embeddings grow when fine-tuned)`]
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
