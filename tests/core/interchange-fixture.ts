// A tiny model whose greedy choices are not near-ties, saved as a checkpoint: random weights
// scaled like a trained network's (unit embeddings, 1/sqrt(fan_in) projections, logits of a few
// units), with a tokenizer trained on a short text. Shared by the GGUF and llama2.c tests.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { tf } from '../../core/backend/tf'
import { resolveModelConfig, type LlamaConfig } from '../../core/model/config'
import { weightShapes } from '../../core/model/llama'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Tokenizer } from '../../core/tokenizer'
import { mulberry32 } from '../../core/util/random'

export const FIXTURE_TEXT = [
  'The king said that the queen would ride to the castle at dawn.',
  'In 1987 there were 42 ships in the harbour, and 7 of them sailed north.',
  'She sells sea shells by the sea shore; the shells she sells are surely sea shells.',
  "It's a truth universally acknowledged: a model must be tested, and tested again!",
  'Numbers like 3.14159 and 2718 split into single digits.',
].join('\n')

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12)
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand())
}

export interface Fixture {
  dir: string
  config: LlamaConfig
  tokenizer: Tokenizer
}

/** Writes the fixture checkpoint into a fresh temporary folder. */
export async function makeFixtureCheckpoint(opts: { tie?: boolean; seed?: number; tokenizer?: Tokenizer } = {}): Promise<Fixture> {
  const tokenizer = opts.tokenizer ?? Tokenizer.train([FIXTURE_TEXT], { vocabSize: 320 })
  const config = resolveModelConfig({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 64, tie_embeddings: opts.tie ?? false })
  const rand = mulberry32(opts.seed ?? 7)
  const weights: Record<string, tf.Tensor> = {}
  for (const [name, shape] of Object.entries(weightShapes(config))) {
    const size = shape.reduce((a, b) => a * b, 1)
    const values = new Float32Array(size)
    // Norm gains near one; embeddings unit scale; a projection keeps its input's scale.
    const std = shape.length === 1 ? 0.1 : name.includes('embed_tokens') ? 1 : name === 'lm_head.weight' ? 3 / Math.sqrt(config.dim) : 1 / Math.sqrt(shape[1])
    for (let i = 0; i < size; i++) values[i] = (shape.length === 1 ? 1 : 0) + std * normal(rand)
    weights[name] = tf.tensor(values, shape, 'float32')
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-interchange-'))
  await saveCheckpoint(path.join(dir, 'model'), { config, weights, tokenizer })
  tf.dispose(Object.values(weights))
  return { dir: path.join(dir, 'model'), config, tokenizer }
}
