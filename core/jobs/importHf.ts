// Importing a Hugging Face Llama folder (already on disk) into the workbench: validate it fully
// (architecture, shapes, tokenizer; weights in one file or shards with model.safetensors.index.json;
// tokenizer.json, or a SentencePiece tokenizer.model that is converted to one) by loading it as
// every consumer will, convert it into a workbench checkpoint in a run folder (float32
// model.safetensors, config.json, the tokenizer files, workbench.json), and record it as a finished
// run of stage 'import' with one 'checkpoint' artifact, so SFT, generate and the app can start from
// it by run id and lineage shows where models came from.
import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { importHfCheckpoint } from '../model/checkpoint'
import { loadModel } from '../model/load'
import { countParameters } from '../model/config'
import { readSentencePieceModel, sentencePieceToTokenizerJson } from '../tokenizer/sentencepiece'
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

export async function importHfFolder(home: string, folder: string, opts: { name?: string; experiment?: string } = {}): Promise<ImportResult> {
  const source = path.resolve(folder)
  if (!fs.existsSync(source) || !fs.statSync(source).isDirectory()) throw new Error(`import-hf: ${folder} is not a folder`)
  const staging = needsTokenizerConversion(source) ? stageWithConvertedTokenizer(source, home) : null
  const readable = staging ?? source
  try {
    // Loading it is the validation: config, architecture, every shape, the tokenizer and its fit.
    const { tokenizer, config, kind, grownRows, dispose } = loadModel(readable, { scoringOnly: true })
    dispose()
    // The model's own size: a tokenizer that lacks the chat tokens grows the embeddings only when
    // the model is loaded, not in the imported checkpoint.
    const ownConfig = { ...config, vocab_size: config.vocab_size - grownRows }
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
        const target = (await importHfCheckpoint(readable, path.join(runDir(home, run.id), 'model'), { runId: run.id })).dir
        if (staging) fs.copyFileSync(path.join(source, 'tokenizer.model'), path.join(target, 'tokenizer.model'))
        const tracker = new SqliteTracker(store, run.id)
        const nParams = countParameters(ownConfig)
        tracker.logParams({ n_params: nParams, vocab_size: ownConfig.vocab_size, source, kind, ...(staging ? { tokenizer_from: 'tokenizer.model' } : {}) })
        tracker.logArtifact({ kind: 'checkpoint', path: target, meta: { imported_from: source, kind } })
        tracker.flush()
        store.finishRun(run.id, 'finished')
        const warnings = grownRows > 0
          ? [`the tokenizer lacked ${tokenizer.addedOnLoad.join(', ')}: added as new tokens; the embedding grows from ${ownConfig.vocab_size} to ${config.vocab_size} rows (at the mean of the others) whenever the model is loaded, until fine-tuning teaches them`]
          : []
        if (staging) warnings.unshift(`${path.join(source, 'tokenizer.model')}: SentencePiece tokenizer converted to tokenizer.json`)
        return { runId: run.id, checkpointDir: target, nParams, vocabSize: ownConfig.vocab_size, warnings }
      } catch (err) {
        store.finishRun(run.id, 'failed', (err as Error).message)
        throw err
      }
    } finally {
      store.close()
    }
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true })
  }
}

/** Only a SentencePiece tokenizer.model (Llama 2's own files), no tokenizer.json. */
function needsTokenizerConversion(source: string): boolean {
  return !fs.existsSync(path.join(source, 'tokenizer.json')) && fs.existsSync(path.join(source, 'tokenizer.model'))
}

/**
 * A folder that reads like the source plus a tokenizer.json converted from its tokenizer.model (as
 * transformers converts it). Files are hard-linked where the file system allows (no copy of the
 * weights), else copied. The caller removes it.
 */
function stageWithConvertedTokenizer(source: string, home: string): string {
  const staging = path.join(home, 'cache', `import-${randomBytes(4).toString('hex')}`)
  fs.mkdirSync(staging, { recursive: true })
  for (const file of fs.readdirSync(source)) {
    const from = path.join(source, file)
    if (!fs.statSync(from).isFile()) continue
    try {
      fs.linkSync(from, path.join(staging, file))
    } catch {
      fs.copyFileSync(from, path.join(staging, file))
    }
  }
  const modelFile = path.join(source, 'tokenizer.model')
  const json = sentencePieceToTokenizerJson(readSentencePieceModel(new Uint8Array(fs.readFileSync(modelFile)), modelFile), modelFile)
  fs.writeFileSync(path.join(staging, 'tokenizer.json'), JSON.stringify(json, null, 2) + '\n')
  return staging
}
