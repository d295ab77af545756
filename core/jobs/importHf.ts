// Importing a Hugging Face Llama folder (already on disk) into the workbench: validate it fully
// (architecture, shapes, tokenizer; weights in one file or shards with model.safetensors.index.json;
// tokenizer.json, or a SentencePiece tokenizer.model that is converted to one), copy the files
// the workbench uses into a run folder, and record it as a finished run of stage 'import' with one 'checkpoint' artifact, so SFT, generate
// and the app can start from it by run id and lineage shows where models came from.
import fs from 'node:fs'
import path from 'node:path'
import { loadModelFrom } from '../train/stages/common'
import { countParameters, type LlamaConfig } from '../model/config'
import { hfConfigToLlama } from '../model/hf'
import type { Tokenizer } from '../tokenizer'
import { readSentencePieceModel, sentencePieceToTokenizerJson } from '../tokenizer/sentencepiece'
import { Store } from '../tracking/store'
import { SqliteTracker } from '../tracking/tracker'
import { runDir } from '../tracking/home'

/** Files of a Hugging Face folder worth keeping (weights, config, tokenizer). */
const KEEP = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer\.model|tokenizer_config\.json|special_tokens_map\.json|.*\.safetensors|model\.safetensors\.index\.json|workbench\.json)$/

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
  const hasTokenizerJson = fs.existsSync(path.join(source, 'tokenizer.json'))
  const sentencePiece = path.join(source, 'tokenizer.model')
  if (hasTokenizerJson || !fs.existsSync(sentencePiece)) validate(source)
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
      // Only a SentencePiece tokenizer.model (Llama 2): converted to tokenizer.json as transformers
      // converts it; the .model is kept beside it.
      const converted = !hasTokenizerJson && fs.existsSync(sentencePiece)
      if (converted) writeConvertedTokenizer(sentencePiece, path.join(target, 'tokenizer.json'))
      const { tokenizer } = validate(target)
      // The model's own size: a tokenizer that lacks the chat tokens grows the embeddings only
      // when the model is fine-tuned, not in the imported checkpoint.
      const config = ownConfig(target)
      const tracker = new SqliteTracker(store, run.id)
      const nParams = countParameters(config)
      tracker.logParams({ n_params: nParams, vocab_size: config.vocab_size, source, ...(converted ? { tokenizer_from: 'tokenizer.model' } : {}) })
      tracker.logArtifact({ kind: 'checkpoint', path: target, meta: { imported_from: source } })
      tracker.flush()
      store.finishRun(run.id, 'finished')
      const warnings = tokenizer.addedOnLoad.length > 0
        ? [`the tokenizer lacked ${tokenizer.addedOnLoad.join(', ')}: added as new tokens (the embeddings grow from ${config.vocab_size} to ${tokenizer.vocabSize} rows when fine-tuned)`]
        : []
      if (converted) warnings.unshift(`${sentencePiece}: SentencePiece tokenizer converted to tokenizer.json`)
      return { runId: run.id, checkpointDir: target, nParams, vocabSize: config.vocab_size, warnings }
    } catch (err) {
      store.finishRun(run.id, 'failed', (err as Error).message)
      throw err
    }
  } finally {
    store.close()
  }
}

/** tokenizer.model -> tokenizer.json as the file itself states it (chat tokens it lacks are appended on load, as for any foreign tokenizer.json). */
function writeConvertedTokenizer(modelFile: string, jsonFile: string): void {
  const json = sentencePieceToTokenizerJson(readSentencePieceModel(new Uint8Array(fs.readFileSync(modelFile)), modelFile), modelFile)
  fs.writeFileSync(jsonFile, JSON.stringify(json, null, 2) + '\n')
}

/** Loading it is the validation: config, architecture, every shape, the tokenizer. */
function validate(dir: string): { tokenizer: Tokenizer } {
  const { model, tokenizer } = loadModelFrom(dir)
  model.dispose()
  return { tokenizer }
}

/** The folder's model config as its config.json states it (before any vocabulary growth). */
function ownConfig(dir: string): LlamaConfig {
  const file = path.join(dir, 'config.json')
  return hfConfigToLlama(JSON.parse(fs.readFileSync(file, 'utf8')), file)
}
