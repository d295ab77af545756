// What the WebGPU checks run, on whatever tfjs backend is current: a tiny Llama's logits, the
// gradients of its masked LM loss and AdamW steps (runStepCase), and timed training steps and
// generation (timeTraining, timeGeneration) for the bench. The same code runs in Node (wasm, cpu)
// and in the Chromium page (webgpu), so the backends are compared on identical work. The case and
// result use the input and output format of tests/fixtures/torch/llama_ref.py, PyTorch's side.
// Browser-safe: only model code and tfjs, nothing from Node.
import { tf } from '../../core/backend/tf'
import { resolveModelConfig, type LlamaConfig } from '../../core/model/config'
import { generateBatch } from '../../core/model/generate'
import { Llama, weightShapes } from '../../core/model/llama'
import { AdamW, clipByGlobalNorm } from '../../core/train/adamw'
import { mulberry32, normalArray } from '../../core/util/random'

export interface StepCase {
  config: LlamaConfig
  weights: Record<string, { shape: number[]; data: number[] }>
  tokens: number[][]
  targets: number[][]
  mask: number[][]
  lr: number
  betas: [number, number]
  eps: number
  weight_decay: number
  /** AdamW steps; the gradients reported are those of the first. */
  steps: number
}

export interface StepResult {
  logits: number[]
  loss: number
  grads: Record<string, number[]>
  weights_after: Record<string, number[]>
  loss_after: number
}

/** The tests' tiny model: dim 32, 2 layers, 4 query heads sharing 2 key/value heads. */
export const TINY_CONFIG: Partial<LlamaConfig> = { vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 64, max_seq_len: 32, rope_theta: 500 }

/** A seeded case: random weights (norm gains near one), two rows of 16 tokens, a partial mask. */
export function makeStepCase(seed = 31, config: Partial<LlamaConfig> = TINY_CONFIG): StepCase {
  const cfg = resolveModelConfig(config)
  const rand = mulberry32(seed)
  const weights: StepCase['weights'] = {}
  for (const [name, shape] of Object.entries(weightShapes(cfg))) {
    const values = normalArray(shape.reduce((a, b) => a * b, 1), 0.2, rand)
    if (shape.length === 1) values.forEach((v, i) => (values[i] = 1 + v))
    weights[name] = { shape, data: Array.from(values) }
  }
  const seq = 16
  const row = () => Array.from({ length: seq }, () => Math.floor(rand() * cfg.vocab_size))
  const tokens = [row(), row()]
  const targets = tokens.map((r) => r.map((t) => (t * 3 + 1) % cfg.vocab_size))
  const mask = [Array.from({ length: seq }, (_, i) => (i % 5 === 3 ? 0 : 1)), Array.from({ length: seq }, (_, i) => (i < 2 ? 0 : 1))]
  // Llama 2's AdamW settings, with a learning rate large enough that one step shows.
  return { config: cfg, weights, tokens, targets, mask, lr: 1e-2, betas: [0.9, 0.95], eps: 1e-5, weight_decay: 0.1, steps: 1 }
}

/** The tensor's values as a plain array. Asynchronous: WebGPU's synchronous read (dataSync) goes
 * through a canvas and returned zeros on Chromium's software adapter. */
async function read(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data())
}

/** Runs the case on the current backend. */
export async function runStepCase(c: StepCase): Promise<StepResult> {
  const tensors: Record<string, tf.Tensor> = {}
  for (const [name, w] of Object.entries(c.weights)) tensors[name] = tf.tensor(w.data, w.shape)
  const model = Llama.fromWeights(c.config, tensors)
  tf.dispose(Object.values(tensors))
  const [rows, seq] = [c.tokens.length, c.tokens[0].length]
  const t = tf.tensor2d(c.tokens, [rows, seq], 'int32')
  const y = tf.tensor2d(c.targets, [rows, seq], 'int32')
  const m = tf.tensor2d(c.mask, [rows, seq], 'int32')
  const logits = model.logits(t) // [B, T, V]
  const first = tf.variableGrads(() => model.loss(t, y, m))
  const nameOf = new Map(Object.entries(model.weights).map(([n, v]) => [v.name, n]))
  const grads: Record<string, number[]> = {}
  for (const [varName, g] of Object.entries(first.grads)) grads[nameOf.get(varName)!] = await read(g)
  const optimizer = new AdamW(model.weights, { lr: c.lr, beta1: c.betas[0], beta2: c.betas[1], eps: c.eps, weightDecay: c.weight_decay })
  optimizer.applyGradients(first.grads)
  for (let step = 1; step < c.steps; step++) {
    const next = tf.variableGrads(() => model.loss(t, y, m))
    optimizer.applyGradients(next.grads)
    tf.dispose([next.value, ...Object.values(next.grads)])
  }
  const after = model.loss(t, y, m)
  const weightsAfter: Record<string, number[]> = {}
  for (const [name, w] of Object.entries(model.weights)) weightsAfter[name] = await read(w)
  const result: StepResult = {
    logits: await read(logits),
    loss: (await read(first.value))[0],
    grads,
    weights_after: weightsAfter,
    loss_after: (await read(after))[0],
  }
  tf.dispose([t, y, m, logits, after, first.value, ...Object.values(first.grads)])
  optimizer.dispose()
  model.dispose()
  return result
}

/** Greedy continuations (KV cache) of `prompts` by the case's model, `newTokens` each. */
export async function greedyTokens(c: StepCase, prompts: number[][], newTokens: number): Promise<number[][]> {
  const tensors: Record<string, tf.Tensor> = {}
  for (const [name, w] of Object.entries(c.weights)) tensors[name] = tf.tensor(w.data, w.shape)
  const model = Llama.fromWeights(c.config, tensors)
  tf.dispose(Object.values(tensors))
  const rows = await generateBatch(model, prompts, { maxNewTokens: newTokens, temperature: 0 })
  model.dispose()
  return rows.map((r) => r.ids)
}

/** The global norm of `values` (one tensor each) and the first clipped tensor, as the training loop clips gradients. */
export async function globalNorm(values: number[][], maxNorm: number): Promise<{ norm: number; firstClipped: number[] }> {
  const tensors = Object.fromEntries(values.map((v, i) => [`g${String(i).padStart(2, '0')}`, tf.tensor1d(v)]))
  const { grads, norm } = clipByGlobalNorm(tensors, maxNorm)
  const out = { norm: (await read(norm))[0], firstClipped: await read(grads.g00) }
  tf.dispose([norm, ...Object.values(grads), ...Object.values(tensors)])
  return out
}

export interface Timing {
  tokens: number
  seconds: number
  tokensPerSecond: number
}

/**
 * Trains `steps` AdamW steps on random tokens (batch x seq) after one untimed warm-up step (which
 * compiles the shaders on WebGPU), reading the loss back each step as the training loop does.
 */
export async function timeTraining(config: Partial<LlamaConfig>, batch: number, seq: number, steps: number): Promise<Timing> {
  const model = Llama.create(config, 1)
  const optimizer = new AdamW(model.weights)
  const rand = mulberry32(2)
  const vocab = model.config.vocab_size
  const ids = () => tf.tensor2d(Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rand() * vocab))), [batch, seq], 'int32')
  const step = async () => {
    const [t, y] = [ids(), ids()]
    const { value, grads } = tf.variableGrads(() => model.loss(t, y))
    optimizer.applyGradients(grads)
    await value.data()
    tf.dispose([t, y, value, ...Object.values(grads)])
  }
  await step()
  const start = performance.now()
  for (let i = 0; i < steps; i++) await step()
  const seconds = (performance.now() - start) / 1000
  optimizer.dispose()
  model.dispose()
  return { tokens: steps * batch * seq, seconds, tokensPerSecond: (steps * batch * seq) / seconds }
}

/** Greedy generation of `newTokens` per row from 8-token prompts (KV cache), after a warm-up. */
export async function timeGeneration(config: Partial<LlamaConfig>, batch: number, newTokens: number): Promise<Timing> {
  const model = Llama.create(config, 1)
  const rand = mulberry32(3)
  const prompts = Array.from({ length: batch }, () => Array.from({ length: 8 }, () => Math.floor(rand() * model.config.vocab_size)))
  await generateBatch(model, prompts, { maxNewTokens: 2, temperature: 0 })
  const start = performance.now()
  await generateBatch(model, prompts, { maxNewTokens: newTokens, temperature: 0 })
  const seconds = (performance.now() - start) / 1000
  model.dispose()
  return { tokens: batch * newTokens, seconds, tokensPerSecond: (batch * newTokens) / seconds }
}
