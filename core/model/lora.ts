// LoRA adapters (Hu et al. 2021) on the Llama's linear layers, laid out as PEFT lays them out so a
// folder written here loads in PEFT and one PEFT wrote loads here.
//
// For a frozen weight W [out, in] an adapter adds a low-rank update: y = x W^T + s * (x A^T) B^T,
// with A [r, in], B [out, r] and s = alpha / r. B starts at zero, so a fresh adapter changes
// nothing; A starts as PEFT's reset_lora_parameters does (kaiming_uniform_ with a = sqrt(5), the
// nn.Linear default: uniform(-1/sqrt(in), 1/sqrt(in))). Dropout acts on the adapter's input while
// training (PEFT's lora_dropout), never on the frozen path.
//
// The model holds an optional LoraAdapters (Llama.adapters); its `enabled` switch turns them off,
// so PPO's reference policy is the same trunk with the adapters off.
import { tf } from '../backend/tf'
import type { LlamaConfig } from './config'
import { linear } from './kernels/linear'
import { mulberry32 } from '../util/random'
import { Llama } from './llama'

/** The linear layers an adapter can sit on (short names, as the settings spell them). */
export const LORA_TARGETS = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'] as const
export type LoraTarget = (typeof LORA_TARGETS)[number]

/** PEFT's default for Llama (peft.utils.constants: ["q_proj", "v_proj"]). */
export const DEFAULT_LORA_TARGETS: LoraTarget[] = ['q', 'v']

/** Short target name -> the module path inside a layer (Hugging Face names). */
const TARGET_MODULES: Record<LoraTarget, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
}

export interface LoraSettings {
  rank: number
  alpha: number
  dropout: number
  targets: LoraTarget[]
}

/** 'q' -> 'q_proj' (PEFT's target_modules entries). */
export function targetModuleName(target: LoraTarget): string {
  return TARGET_MODULES[target].split('.')[1]
}

/** 'q_proj' -> 'q'; undefined for a module no adapter here can sit on. */
export function targetFromModuleName(module: string): LoraTarget | undefined {
  return LORA_TARGETS.find((t) => targetModuleName(t) === module)
}

/** One adapter: A [r, in] and B [out, r] for the weight `${module}.weight`. */
export interface LoraPair {
  A: tf.Variable
  B: tf.Variable
}

export class LoraAdapters {
  /** False: the model runs as its frozen trunk alone (PPO's reference policy). */
  enabled = true
  /**
   * True while training: dropout on the adapter input (when `settings.dropout` > 0), and, over a
   * frozen trunk, each layer's activations are recomputed in the backward pass instead of kept
   * (Llama.hidden; kernels/recompute.ts).
   */
  training = false
  /** Keyed by module path, e.g. 'model.layers.0.self_attn.q_proj'. */
  readonly pairs: Map<string, LoraPair>
  private dropoutCalls = 0

  private constructor(
    readonly settings: LoraSettings,
    pairs: Map<string, LoraPair>,
    private readonly seed: number,
  ) {
    this.pairs = pairs
  }

  get scale(): number {
    return this.settings.alpha / this.settings.rank
  }

  /** Fresh adapters for every targeted layer: A as PEFT's kaiming-uniform, B zero. */
  static create(config: LlamaConfig, settings: LoraSettings, seed = 0): LoraAdapters {
    checkSettings(settings)
    const rand = mulberry32(seed)
    const pairs = new Map<string, LoraPair>()
    for (const [module, [out, inDim]] of targetShapes(config, settings.targets)) {
      const bound = 1 / Math.sqrt(inDim)
      const a = new Float32Array(settings.rank * inDim)
      for (let i = 0; i < a.length; i++) a[i] = (2 * rand() - 1) * bound
      pairs.set(module, {
        // tidy: the variable keeps the buffer, the temporary tensor is released.
        A: tf.tidy(() => tf.variable(tf.tensor2d(a, [settings.rank, inDim]), true)),
        B: tf.tidy(() => tf.variable(tf.zeros([out, settings.rank]), true)),
      })
    }
    return new LoraAdapters(settings, pairs, seed)
  }

  /**
   * Adapters from named tensors `${module}.lora_A.weight` / `.lora_B.weight` (see `variables`).
   * Every targeted module must have both, with the shapes the config and rank give. The tensors are
   * copied; the caller still owns them.
   */
  static fromTensors(config: LlamaConfig, settings: LoraSettings, tensors: Record<string, tf.Tensor>, source: string): LoraAdapters {
    checkSettings(settings)
    const problems: string[] = []
    const pairs = new Map<string, LoraPair>()
    const expected = new Set<string>()
    for (const [module, [out, inDim]] of targetShapes(config, settings.targets)) {
      const shapes = { A: [settings.rank, inDim], B: [out, settings.rank] }
      const got: Partial<Record<'A' | 'B', tf.Tensor>> = {}
      for (const part of ['A', 'B'] as const) {
        const name = `${module}.lora_${part}.weight`
        expected.add(name)
        const t = tensors[name]
        if (!t) problems.push(`missing ${name} [${shapes[part]}]`)
        else if (t.shape.join(',') !== shapes[part].join(',')) problems.push(`${name} has shape [${t.shape}], expected [${shapes[part]}]`)
        else got[part] = t
      }
      if (got.A && got.B) {
        pairs.set(module, {
          A: tf.tidy(() => tf.variable(tf.cast(got.A!, 'float32'), true)),
          B: tf.tidy(() => tf.variable(tf.cast(got.B!, 'float32'), true)),
        })
      }
    }
    for (const name of Object.keys(tensors)) if (!expected.has(name)) problems.push(`unexpected tensor ${name}`)
    if (problems.length > 0) {
      for (const p of pairs.values()) tf.dispose([p.A, p.B])
      throw new Error(`${source}: adapters do not match the base model and adapter_config.json:\n  - ${problems.join('\n  - ')}`)
    }
    return new LoraAdapters(settings, pairs, 0)
  }

  /** True when `module` (e.g. 'model.layers.0.self_attn.q_proj') has an adapter that is on. */
  adapts(module: string): boolean {
    return this.enabled && this.pairs.has(module)
  }

  /**
   * The adapter's contribution s * (drop(x) A^T) B^T [N, out] for x [N, in], or null when `module`
   * has none or adapters are off.
   */
  delta(x: tf.Tensor2D, module: string): tf.Tensor2D | null {
    const pair = this.pairs.get(module)
    if (!pair || !this.enabled) return null
    const input = this.training && this.settings.dropout > 0 ? (tf.dropout(x, this.settings.dropout, undefined, this.seed + ++this.dropoutCalls) as tf.Tensor2D) : x
    const low = linear(input, pair.A as unknown as tf.Tensor2D) // [N, r]
    return tf.mul(linear(low, pair.B as unknown as tf.Tensor2D), this.scale) as tf.Tensor2D // [N, out]
  }

  /**
   * True when the adapters act on a layer as a change of its weights, W + s * B A, whatever the
   * input: always, except while training with dropout on the adapter input (each row then sees
   * its own mask). The whole-block native op then runs the layer on those merged weights.
   */
  mergeable(): boolean {
    return !(this.enabled && this.training && this.settings.dropout > 0)
  }

  /**
   * `weight` [out, in] with `module`'s adapter folded in, W + s * (B @ A), or `weight` itself when
   * the module has none or adapters are off. Computed on the tape, so the merged weight's gradient
   * reaches A and B: dA = s * B^T dW', dB = s * dW' A^T (the gradients of y = x W^T + s (x A^T) B^T).
   */
  merged(weight: tf.Tensor2D, module: string): tf.Tensor2D {
    const pair = this.pairs.get(module)
    if (!pair || !this.enabled) return weight
    // s * B first: the tape then keeps the small B and A for the product's gradient, not an [out, in] copy.
    return tf.add(weight, tf.matMul(tf.mul(pair.B, this.scale), pair.A)) as tf.Tensor2D // [out, in]
  }

  /** The adapter tensors of one layer (A, B per module in target order): what its recomputed block trains. */
  layerVariables(layer: number): tf.Variable[] {
    const prefix = `model.layers.${layer}.`
    return [...this.pairs].filter(([module]) => module.startsWith(prefix)).flatMap(([, { A, B }]) => [A, B])
  }

  /** Where the dropout seeds stand now: `replayDropout(mark, fn)` draws the same masks again. */
  dropoutMark(): number {
    return this.dropoutCalls
  }

  /**
   * Runs `fn` with dropout seeds counted from `mark` (a recomputed forward pass draws the masks its
   * first pass drew); afterwards the count is past every seed used so far.
   */
  replayDropout<T>(mark: number, fn: () => T): T {
    const before = this.dropoutCalls
    this.dropoutCalls = mark
    try {
      return fn()
    } finally {
      this.dropoutCalls = Math.max(before, this.dropoutCalls)
    }
  }

  /** Every adapter tensor by name (`${module}.lora_A.weight`, `.lora_B.weight`): what trains. */
  variables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {}
    for (const [module, { A, B }] of this.pairs) {
      out[`${module}.lora_A.weight`] = A
      out[`${module}.lora_B.weight`] = B
    }
    return out
  }

  /**
   * The trunk's weights with every adapter folded in, W + s * B A, as new tensors keyed like
   * `model.weights` (the untouched ones are the model's own tensors: do not dispose those).
   */
  mergedWeights(weights: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const out: Record<string, tf.Tensor> = { ...weights }
    for (const [module, { A, B }] of this.pairs) {
      const name = `${module}.weight`
      out[name] = tf.tidy(() => tf.add(weights[name], tf.mul(tf.matMul(B, A), this.scale))) // [out, in]
    }
    return out
  }

  /** Runs `fn` with the adapters off (the frozen trunk), then restores the switch. */
  withDisabled<T>(fn: () => T): T {
    const was = this.enabled
    this.enabled = false
    try {
      return fn()
    } finally {
      this.enabled = was
    }
  }

  dispose(): void {
    for (const { A, B } of this.pairs.values()) tf.dispose([A, B])
    this.pairs.clear()
  }
}

/** The [out, in] shape of each linear layer an adapter can sit on. */
export function linearShapes(config: LlamaConfig): Record<LoraTarget, [number, number]> {
  const kv = config.n_kv_heads * (config.dim / config.n_heads)
  return {
    q: [config.dim, config.dim],
    k: [kv, config.dim],
    v: [kv, config.dim],
    o: [config.dim, config.dim],
    gate: [config.hidden_dim, config.dim],
    up: [config.hidden_dim, config.dim],
    down: [config.dim, config.hidden_dim],
  }
}

/** The module paths the targets cover, in layer order, with their weight shapes [out, in]. */
function targetShapes(config: LlamaConfig, targets: readonly LoraTarget[]): Array<[string, [number, number]]> {
  const shapes = linearShapes(config)
  const out: Array<[string, [number, number]]> = []
  for (let layer = 0; layer < config.n_layers; layer++) {
    for (const t of LORA_TARGETS) if (targets.includes(t)) out.push([`model.layers.${layer}.${TARGET_MODULES[t]}`, shapes[t]])
  }
  return out
}

function checkSettings(s: LoraSettings): void {
  if (!Number.isInteger(s.rank) || s.rank < 1) throw new Error(`LoRA rank must be a whole number >= 1, got ${s.rank}`)
  if (!(s.alpha > 0)) throw new Error(`LoRA alpha must be > 0, got ${s.alpha}`)
  if (!(s.dropout >= 0 && s.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${s.dropout}`)
  if (s.targets.length === 0) throw new Error('LoRA needs at least one target layer (any of q, k, v, o, gate, up, down)')
  for (const t of s.targets) if (!LORA_TARGETS.includes(t)) throw new Error(`unknown LoRA target "${t}" (any of ${LORA_TARGETS.join(', ')})`)
}

/**
 * A new model whose weights have the adapters folded in (W + s * B A), with no adapters: what
 * `workbench merge` saves. The model given is unchanged.
 */
export function mergeAdapters(model: Llama): Llama {
  const adapters = model.adapters
  if (!adapters) return Llama.fromWeights(model.config, model.weights)
  const merged = adapters.mergedWeights(model.weights)
  try {
    return Llama.fromWeights(model.config, merged)
  } finally {
    tf.dispose(Object.keys(merged).filter((name) => merged[name] !== model.weights[name]).map((name) => merged[name]))
  }
}

/**
 * Folds the model's adapters into its own weights (W += s * B A) and drops them: a full
 * fine-tuning that starts from an adapter folder then trains (and saves) the adapted model.
 */
export function foldAdaptersInPlace(model: Llama): void {
  const adapters = model.adapters
  if (!adapters) return
  const merged = adapters.mergedWeights(model.weights)
  for (const module of adapters.pairs.keys()) {
    const name = `${module}.weight`
    model.weights[name].assign(merged[name])
    merged[name].dispose()
  }
  adapters.dispose()
  model.adapters = null
}
