// The one way to turn a model folder into a runnable model: SFT's base, pretraining's init_from,
// gold evaluation, the chat engine and the CLI all load through `loadModel`, so they agree on
// the weights, the tokenizer and the vocabulary.
//
// A folder is a workbench checkpoint or a Hugging Face Llama folder (LlamaForCausalLM, or a reward
// model saved as LlamaForSequenceClassification with one label). When the tokenizer has more
// tokens than the model's embedding (a foreign tokenizer.json that gains the chat tokens on
// load), the embedding and lm_head rows grow to match, each new row at the mean of the old ones.
// That growth is deterministic, so every consumer of the same folder gets the same weights.
// A LoRA adapter folder (PEFT's adapter_config.json) loads its base model and applies the adapters
// (model.adapters), so chat, evaluation, export and later stages take it like any folder.

import fs from 'node:fs'
import path from 'node:path'
import { tf } from '../backend/tf'
import { Tokenizer } from '../tokenizer'
import { loadCheckpoint, FILES } from './checkpoint'
import type { LlamaConfig } from './config'
import { SCALAR_HEAD_WEIGHT_NAMES, ScalarHead, type ScalarHeadKind } from './heads'
import { findWeightFiles, hfConfigToLlama, type HfModelKind } from './hf'
import { Llama } from './llama'
import { LoraAdapters, type LoraSettings } from './lora'
import { ADAPTER_FILES, isAdapterDir, readAdapterConfig } from './peft'

export interface LoadModelOptions {
  /** A longer context than the checkpoint's (RoPE handles any position; only the tables grow). */
  maxSeqLen?: number
  /** Scalar heads to load; a requested head the folder lacks is an error. */
  heads?: ScalarHeadKind[]
  /**
   * True for consumers that score text and never generate it (reward, value): they may load a
   * reward model (LlamaForSequenceClassification), which has no lm_head. Default false: such a
   * folder is refused, since its language-model logits would be meaningless.
   */
  scoringOnly?: boolean
}

export interface LoadedModel {
  model: Llama
  tokenizer: Tokenizer
  /** The model's config after growth: vocab_size covers every tokenizer id. */
  config: LlamaConfig
  /** The requested heads (copied into variables; `dispose` frees them with the model). */
  heads: Partial<Record<ScalarHeadKind, ScalarHead>>
  /** The heads the folder holds, loaded or not. */
  headsInFolder: ScalarHeadKind[]
  /** 'lm': LlamaForCausalLM (perhaps with heads beside); 'reward': LlamaForSequenceClassification. */
  kind: HfModelKind
  /** Embedding rows added for tokenizer tokens the checkpoint had none for (0 usually). */
  grownRows: number
  /** For a LoRA adapter folder: its base model folder and settings (the adapters are model.adapters). */
  adapter?: { baseDir: string; settings: LoraSettings }
  /** Disposes the model and the loaded heads. */
  dispose(): void
}

/** Loads a checkpoint or Hugging Face Llama folder with its tokenizer (see the file comment). */
export function loadModel(dir: string, opts: LoadModelOptions = {}): LoadedModel {
  const loaded = loadCheckpoint(dir)
  try {
    if (loaded.kind === 'reward' && !opts.scoringOnly) {
      throw new Error(`${dir}: is a reward model (LlamaForSequenceClassification, no lm_head); it scores text and cannot generate it`)
    }
    if (!loaded.tokenizerPath || !fs.existsSync(loaded.tokenizerPath)) {
      throw new Error(`${dir}: no tokenizer.json beside the model; the workbench needs it to read and write text`)
    }
    const tokenizer = Tokenizer.load(loaded.tokenizerPath)
    checkTokenizerFits(dir, tokenizer, loaded.config.vocab_size)
    const grownRows = Math.max(0, tokenizer.vocabSize - loaded.config.vocab_size)
    const config: LlamaConfig = {
      ...loaded.config,
      vocab_size: loaded.config.vocab_size + grownRows,
      max_seq_len: Math.max(loaded.config.max_seq_len, opts.maxSeqLen ?? 0),
    }
    const heads = loadHeads(dir, loaded.heads, opts.heads ?? [], config.dim)
    const tensors = growVocab(loaded.tensors, grownRows)
    let model: Llama
    try {
      model = Llama.fromWeights(config, tensors) // copies the tensors into variables
      if (loaded.adapter) {
        try {
          model.adapters = LoraAdapters.fromTensors(config, loaded.adapter.settings, loaded.adapter.tensors, dir)
        } catch (err) {
          model.dispose()
          throw err
        }
      }
    } catch (err) {
      Object.values(heads).forEach((h) => h.dispose())
      throw err
    } finally {
      tf.dispose(Object.keys(tensors).filter((name) => tensors[name] !== loaded.tensors[name]).map((name) => tensors[name]))
    }
    return {
      model,
      tokenizer,
      config,
      heads,
      headsInFolder: headKindsIn(loaded.heads),
      kind: loaded.kind,
      grownRows,
      ...(loaded.adapter ? { adapter: { baseDir: loaded.adapter.baseDir, settings: loaded.adapter.settings } } : {}),
      dispose: () => {
        model.dispose()
        Object.values(heads).forEach((h) => h.dispose())
      },
    }
  } finally {
    loaded.dispose()
  }
}

/**
 * New embedding (and lm_head) rows for tokens the model has never seen, initialised at the mean
 * of the existing rows (a neutral start that does not disturb the other logits much). Returns the
 * same record with the grown tensors replaced by new ones (the caller disposes those).
 */
export function growVocab(tensors: Record<string, tf.Tensor>, extra: number): Record<string, tf.Tensor> {
  if (extra === 0) return tensors
  const out = { ...tensors }
  for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
    const t = tensors[name]
    if (!t) continue // tied: there is no lm_head
    out[name] = tf.tidy(() => {
      const mean = tf.mean(t, 0, true) // [1, D]
      return tf.concat([t, tf.tile(mean, [extra, 1])], 0) // [V + extra, D]
    })
  }
  return out
}

/**
 * Only tokens added on top of the vocabulary (tokenizer.json's added_tokens, or the chat tokens
 * appended on load) may lack an embedding row. A base vocabulary larger than the embedding means
 * the tokenizer belongs to another model: growing it would silently train garbage rows.
 */
function checkTokenizerFits(dir: string, tokenizer: Tokenizer, modelVocab: number): void {
  const json = tokenizer.toJSON() as { model?: { vocab?: Record<string, number> | Array<[string, number]> } }
  const vocab = json.model?.vocab
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab ?? {})
  const baseSize = ids.reduce((max, id) => Math.max(max, id + 1), 0)
  if (baseSize > modelVocab) {
    throw new Error(
      `${dir}: tokenizer.json has ${baseSize} vocabulary tokens but the model's embedding has ${modelVocab} rows: ` +
        'the tokenizer does not belong to this model (only added special tokens can be grown)',
    )
  }
}

function loadHeads(dir: string, found: Record<string, tf.Tensor>, wanted: ScalarHeadKind[], dim: number): Partial<Record<ScalarHeadKind, ScalarHead>> {
  const heads: Partial<Record<ScalarHeadKind, ScalarHead>> = {}
  const problems: string[] = []
  for (const kind of wanted) {
    const name = SCALAR_HEAD_WEIGHT_NAMES[kind]
    const weight = found[name]
    if (!weight) problems.push(`no ${name} (the ${kind} head)`)
    else if (weight.shape.join(',') !== `1,${dim}`) problems.push(`${name} has shape [${weight.shape.join(', ')}], expected [1, ${dim}]`)
    else heads[kind] = ScalarHead.fromWeight(kind, weight)
  }
  if (problems.length > 0) {
    Object.values(heads).forEach((h) => h.dispose())
    const present = Object.keys(found)
    throw new Error(`${dir}: ${problems.join('; ')} (head tensors in the folder: ${present.length > 0 ? present.join(', ') : 'none'})`)
  }
  return heads
}

function headKindsIn(found: Record<string, tf.Tensor>): ScalarHeadKind[] {
  return (Object.keys(SCALAR_HEAD_WEIGHT_NAMES) as ScalarHeadKind[]).filter((kind) => found[SCALAR_HEAD_WEIGHT_NAMES[kind]] !== undefined)
}

/**
 * A string that changes whenever the folder's model is rewritten: inode, size and modification
 * time of config.json, the weight files, tokenizer.json and workbench.json. A checkpoint save
 * writes new files and renames them in, so even a same-size re-save within one clock tick gets
 * new inodes. Caches of loaded models key on it (dir alone would serve a stale model).
 */
export function modelFolderFingerprint(dir: string): string {
  if (isAdapterDir(dir)) {
    // An adapter changes when it or its base does.
    const own = [ADAPTER_FILES.config, ADAPTER_FILES.model, FILES.tokenizer, FILES.workbench]
    return `${fingerprintFiles(dir, own)}|base:${modelFolderFingerprint(readAdapterConfig(dir).baseDir)}`
  }
  return fingerprintFiles(dir, [FILES.config, ...findWeightFiles(dir).map((w) => path.basename(w.file)), FILES.tokenizer, FILES.workbench])
}

function fingerprintFiles(dir: string, files: string[]): string {
  return files
    .map((name) => {
      const file = path.join(dir, name)
      if (!fs.existsSync(file)) return `${name}:-`
      const st = fs.statSync(file, { bigint: true })
      return `${name}:${st.ino}:${st.size}:${st.mtimeNs}`
    })
    .join('|')
}

/**
 * The model config of a folder without reading its weights (for memory previews): its config.json,
 * or for a LoRA adapter folder its base model's.
 */
export function readModelConfig(dir: string): LlamaConfig {
  const modelDir = isAdapterDir(dir) ? readAdapterConfig(dir).baseDir : dir
  const file = path.join(modelDir, 'config.json')
  let json: unknown
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`${file}: cannot read the model config: ${(err as Error).message}`)
  }
  return hfConfigToLlama(json, file)
}
