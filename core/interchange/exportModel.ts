// `workbench export`: a recorded model (a run's checkpoint or a checkpoint folder) written for
// another runtime: GGUF for llama.cpp / Ollama / LM Studio, or llama2.c's .bin + tokenizer.bin.
// The file is recorded as an 'export' artifact of the run it came from, with an event saying so.
import fs from 'node:fs'
import path from 'node:path'
import { resolveModelRef } from '../jobs/checkpoints'
import { weightShapes } from '../model/llama'
import { Store } from '../tracking/store'
import { loadModel } from '../model/load'
import { foldAdaptersInPlace } from '../model/lora'
import { writeGguf } from './gguf'
import { llamaGguf, type GgufDtype } from './ggufLlama'
import { checkLlama2cVocab, encodeLlama2cModel, encodeLlama2cTokenizer } from './llama2c'
import { exportVocab } from './vocab'

export type ExportFormat = 'gguf' | 'llama2c'

export interface ExportModelOptions {
  /** A run id (or prefix) or a checkpoint folder. */
  model: string
  format: ExportFormat
  /** GGUF only; default f32. */
  dtype?: GgufDtype
  out: string
}

export interface ExportModelResult {
  files: string[]
  bytes: number
  checkpointDir: string
  runId?: string
  /** What the user should know (e.g. no chat template in the checkpoint). */
  notes: string[]
}

/** The checkpoint's chat template (tokenizer_config.json), if it has one. */
function chatTemplateOf(dir: string): string | undefined {
  const file = path.join(dir, 'tokenizer_config.json')
  if (!fs.existsSync(file)) return undefined
  const template = (JSON.parse(fs.readFileSync(file, 'utf8')) as { chat_template?: unknown }).chat_template
  return typeof template === 'string' ? template : undefined
}

export async function exportModel(home: string, opts: ExportModelOptions): Promise<ExportModelResult> {
  const store = Store.open(home)
  try {
    const ref = resolveModelRef(store, opts.model, '--model')
    const result = await writeExport(ref.checkpointDir, opts)
    if (ref.runId) {
      for (const file of result.files) store.addArtifact(ref.runId, { kind: 'export', path: path.resolve(file), meta: { format: opts.format, dtype: opts.dtype ?? 'f32', checkpoint: ref.checkpointDir } })
      const message = `exported as ${opts.format}${opts.format === 'gguf' ? ` (${opts.dtype ?? 'f32'})` : ''} to ${result.files.join(', ')}`
      store.recordBatch(ref.runId, { events: [{ kind: 'export', message, data: { format: opts.format, files: result.files }, time: Date.now() }] })
    }
    return { ...result, checkpointDir: ref.checkpointDir, ...(ref.runId ? { runId: ref.runId } : {}) }
  } finally {
    store.close()
  }
}

/** Writes the export files for one checkpoint folder (no store involved). */
export async function writeExport(checkpointDir: string, opts: Omit<ExportModelOptions, 'model'>): Promise<Omit<ExportModelResult, 'checkpointDir' | 'runId'>> {
  const { model, tokenizer, config } = loadModel(checkpointDir)
  try {
    foldAdaptersInPlace(model) // a LoRA adapter folder exports as its merged model
    const shapes = weightShapes(config) as Record<string, number[]>
    const weights: Record<string, Float32Array> = {}
    for (const name of Object.keys(shapes)) weights[name] = (await model.weights[name].data()) as Float32Array
    const notes: string[] = []
    fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true })
    if (opts.format === 'gguf') {
      const vocab = exportVocab(tokenizer, config.vocab_size)
      const chatTemplate = chatTemplateOf(checkpointDir)
      if (!chatTemplate) notes.push('the checkpoint has no chat_template in tokenizer_config.json, so the GGUF has none')
      const s = tokenizer.special
      const file = llamaGguf(
        { config, weights, vocab, special: { bos: s.bos, eos: s.eos, pad: s.pad, unk: s.unk, endOfTurn: s.end_of_turn }, chatTemplate, name: path.basename(checkpointDir), dtype: opts.dtype ?? 'f32' },
        shapes,
      )
      const bytes = writeGguf(opts.out, file)
      return { files: [path.resolve(opts.out)], bytes, notes }
    }
    const vocab = exportVocab(tokenizer, config.vocab_size)
    checkLlama2cVocab(vocab)
    const modelBytes = encodeLlama2cModel(config, weights)
    const tokenizerFile = path.join(path.dirname(path.resolve(opts.out)), 'tokenizer.bin')
    const tokenizerBytes = encodeLlama2cTokenizer(vocab)
    fs.writeFileSync(opts.out, modelBytes)
    fs.writeFileSync(tokenizerFile, tokenizerBytes)
    notes.push('run.c reads the legacy (version 0) header; version 1 files are read by llama2.c\'s export.py tooling and its later runners')
    return { files: [path.resolve(opts.out), tokenizerFile], bytes: modelBytes.length + tokenizerBytes.length, notes }
  } finally {
    model.dispose()
  }
}
