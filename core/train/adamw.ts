// AdamW with PyTorch semantics and the Llama 2 defaults (betas 0.9 / 0.95, eps 1e-5, weight
// decay 0.1 on matrices only), plus gradient clipping by global norm.
//
// One update, for every parameter p with gradient g, at step t = 1, 2, ...
//     p <- p * (1 - lr * wd)                    decoupled decay; only for rank >= 2 (matrices)
//     m <- beta1 * m + (1 - beta1) * g
//     v <- beta2 * v + (1 - beta2) * g^2
//     p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// which is exactly torch.optim.AdamW's arithmetic. Norm weights (rank 1) are never decayed:
// pulling an RMSNorm gain towards 0 only fights the model.
//
// On wasm and cpu with the native addon the update is fused: a group of parameters (up to about
// a million elements) per kernel (ADAMW_MANY in core/backend/kernels/nativeOps.ts, blocks shared
// over the thread pool; an addon built before it: one kernel per parameter, ADAMW), one pass over
// p, g, m, v with the clip coefficient folded in as a scale on g, computing the same float32
// operations in the same order as the tfjs formulation below, so all give the same bits;
// elsewhere (WebGPU, no addon, WORKBENCH_FUSED_OPS=0) the tfjs formulation.

import { tf } from '../backend/tf'
import { ADAMW, ADAMW_MANY, GLOBAL_NORM, nativeAdamWActive, nativeAdamWManyActive, nativeGlobalNormActive } from '../backend/kernels/nativeOps'

export interface AdamWOptions {
  /** Learning rate used when applyGradients is not given one (normally the schedule passes it). */
  lr?: number
  beta1?: number
  beta2?: number
  eps?: number
  weightDecay?: number
  /** Which parameters get weight decay. Default: rank >= 2. */
  decays?: (name: string, shape: number[]) => boolean
}

/** Optimiser state for checkpoints: the step count and the two moments per parameter name. */
export interface AdamWState {
  step: number
  m: Record<string, tf.Tensor>
  v: Record<string, tf.Tensor>
}

export const ADAMW_DEFAULTS = { lr: 3e-4, beta1: 0.9, beta2: 0.95, eps: 1e-5, weightDecay: 0.1 }

export class AdamW {
  readonly options: Required<Omit<AdamWOptions, 'decays'>>
  /** Updates applied so far (t in the bias correction is step + 1 for the next update). */
  step = 0
  private readonly m: Record<string, tf.Variable> = {}
  private readonly v: Record<string, tf.Variable> = {}
  private readonly decayed = new Set<string>()
  /** tf.variableGrads keys gradients by the variable's internal name; map those back to ours. */
  private readonly byVariableName = new Map<string, string>()

  constructor(
    readonly params: Record<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    const { decays, ...numbers } = options
    this.options = { ...ADAMW_DEFAULTS, ...Object.fromEntries(Object.entries(numbers).filter(([, x]) => x !== undefined)) }
    checkOptions(this.options)
    const shouldDecay = decays ?? ((_name: string, shape: number[]) => shape.length >= 2)
    for (const [name, p] of Object.entries(params)) {
      this.m[name] = tf.variable(tf.zerosLike(p), false)
      this.v[name] = tf.variable(tf.zerosLike(p), false)
      if (shouldDecay(name, p.shape)) this.decayed.add(name)
      this.byVariableName.set(p.name, name)
    }
  }

  /** True when `name` is decayed (matrices by default). */
  decays(name: string): boolean {
    return this.decayed.has(name)
  }

  /**
   * Applies one update. `grads` is keyed by parameter name (or by tf variable name, as
   * tf.variableGrads returns it). A parameter without a gradient is left untouched this step.
   * `gradScale` (a scalar, e.g. clipCoefficient's) multiplies every gradient first: the clip
   * without a scaled copy of each gradient. The caller still owns (and disposes) `grads` and `gradScale`.
   * With the many-parameter native kernel, parameters are updated `groupElements` elements at a
   * time (parameterGroups); the result does not depend on it.
   */
  applyGradients(grads: Record<string, tf.Tensor>, lr = this.options.lr, gradScale?: tf.Scalar, groupElements = ADAMW_GROUP_ELEMENTS): void {
    if (!Number.isFinite(lr) || lr < 0) throw new Error(`AdamW: learning rate must be a finite number >= 0, got ${lr}`)
    const named = this.nameGradients(grads)
    const { beta1, beta2, eps, weightDecay } = this.options
    const t = this.step + 1
    const constants: UpdateConstants = { beta1, beta2, eps, stepSize: lr / (1 - beta1 ** t), sqrtBias2: Math.sqrt(1 - beta2 ** t), decay: 1 }
    const fused = nativeAdamWActive()
    const scale = gradScale ?? (fused ? tf.scalar(1) : undefined)
    // 1 - lr * wd, or 1 (p * 1 is p to the bit) for a parameter without decay.
    const decayOf = (name: string) => (this.decayed.has(name) && weightDecay > 0 ? 1 - lr * weightDecay : 1)
    const isFloat = (name: string) => this.params[name].dtype === 'float32' && named[name].dtype === 'float32'
    const many = fused && nativeAdamWManyActive() ? Object.keys(named).filter(isFloat) : []
    const updated = new Set(many)
    for (const group of parameterGroups(many, (name) => this.params[name].size, groupElements)) {
      tf.tidy(() => {
        const inputs = group.flatMap((name) => [this.params[name], named[name], this.m[name], this.v[name]])
        const outputs = tf.engine().runKernel(ADAMW_MANY, { ...inputs, [inputs.length]: scale! } as unknown as tf.NamedTensorMap, { ...constants, decays: group.map(decayOf) }) as tf.Tensor[]
        group.forEach((name, i) => this.assignUpdate(name, outputs.slice(3 * i, 3 * i + 3)))
      })
    }
    // One tidy per parameter: the temporaries of an update are freed before the next
    // parameter's, so the update needs a few copies of the largest parameter, not of all of them.
    for (const [name, g] of Object.entries(named)) {
      if (updated.has(name)) continue
      tf.tidy(() => {
        const p = this.params[name]
        const c = { ...constants, decay: decayOf(name) }
        this.assignUpdate(name, fused && isFloat(name)
          ? adamwUpdateFused(p, g, this.m[name], this.v[name], scale!, c)
          : adamwUpdateTfjs(p, g, this.m[name], this.v[name], scale, c))
      })
    }
    if (scale !== gradScale) scale?.dispose()
    this.step = t
  }

  private assignUpdate(name: string, [p, m, v]: tf.Tensor[]): void {
    this.params[name].assign(p)
    this.m[name].assign(m)
    this.v[name].assign(v)
  }

  /**
   * The live state (the optimiser's own variables, not copies): read it, e.g. to save a checkpoint,
   * but do not dispose or modify it.
   */
  getState(): AdamWState {
    return { step: this.step, m: { ...this.m }, v: { ...this.v } }
  }

  /** Copies a saved state in. Every parameter needs m and v of its shape; the caller keeps `state`. */
  setState(state: AdamWState): void {
    if (!Number.isInteger(state.step) || state.step < 0) throw new Error(`AdamW state: step must be an integer >= 0, got ${state.step}`)
    const problems: string[] = []
    for (const [name, p] of Object.entries(this.params)) {
      for (const [which, moments] of [['m', state.m], ['v', state.v]] as const) {
        const saved = moments[name]
        if (!saved) problems.push(`${which} for ${name} is missing`)
        else if (saved.shape.join(',') !== p.shape.join(',')) {
          problems.push(`${which} for ${name} has shape [${saved.shape}], the parameter has [${p.shape}]`)
        }
      }
    }
    for (const name of new Set([...Object.keys(state.m), ...Object.keys(state.v)])) {
      if (!(name in this.params)) problems.push(`state for unknown parameter ${name}`)
    }
    if (problems.length > 0) throw new Error(`AdamW state does not match the parameters:\n  - ${problems.join('\n  - ')}`)
    for (const name of Object.keys(this.params)) {
      this.m[name].assign(tf.cast(state.m[name], 'float32'))
      this.v[name].assign(tf.cast(state.v[name], 'float32'))
    }
    this.step = state.step
  }

  dispose(): void {
    for (const t of [...Object.values(this.m), ...Object.values(this.v)]) t.dispose()
  }

  private nameGradients(grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
    const named: Record<string, tf.Tensor> = {}
    for (const [key, g] of Object.entries(grads)) {
      const name = key in this.params ? key : this.byVariableName.get(key)
      if (name === undefined) throw new Error(`AdamW: gradient for unknown parameter "${key}"`)
      const p = this.params[name]
      if (g.shape.join(',') !== p.shape.join(',')) {
        throw new Error(`AdamW: gradient for ${name} has shape [${g.shape}], the parameter has [${p.shape}]`)
      }
      named[name] = g
    }
    return named
  }
}

/** The numbers of one update: betas, eps, lr / (1 - beta1^t), sqrt(1 - beta2^t), and 1 - lr * wd (or 1). */
export interface UpdateConstants {
  beta1: number
  beta2: number
  eps: number
  stepSize: number
  sqrtBias2: number
  decay: number
}

/**
 * One parameter's update with tfjs ops: [new p, new m, new v]. Each op is one float32 rounding,
 * which the fused kernel (native/fastgemm/gemm.c, adamw_part) repeats in the same order.
 */
export function adamwUpdateTfjs(p: tf.Tensor, grad: tf.Tensor, mOld: tf.Tensor, vOld: tf.Tensor, scale: tf.Scalar | undefined, c: UpdateConstants): tf.Tensor[] {
  const g = scale ? tf.mul(grad, scale) : grad
  const m = tf.add(tf.mul(mOld, c.beta1), tf.mul(g, 1 - c.beta1))
  const v = tf.add(tf.mul(vOld, c.beta2), tf.mul(tf.square(g), 1 - c.beta2))
  const decayedP = c.decay !== 1 ? tf.mul(p, c.decay) : p
  const denom = tf.add(tf.div(tf.sqrt(v), c.sqrtBias2), c.eps)
  return [tf.sub(decayedP, tf.mul(tf.div(m, denom), c.stepSize)), m, v]
}

/** At most this many parameter elements per many-parameter kernel: the new p, m and v of a group live beside the old ones until assigned. */
export const ADAMW_GROUP_ELEMENTS = 1 << 20

/**
 * Consecutive runs of `names` holding at most ADAMW_GROUP_ELEMENTS elements together (a larger
 * parameter alone), so one update's extra memory stays that of about a million parameters (12
 * MB), whatever the model's size.
 */
export function parameterGroups(names: string[], sizeOf: (name: string) => number, limit = ADAMW_GROUP_ELEMENTS): string[][] {
  const groups: string[][] = []
  let current: string[] = []
  let elements = 0
  for (const name of names) {
    const size = sizeOf(name)
    if (current.length > 0 && elements + size > limit) {
      groups.push(current)
      current = []
      elements = 0
    }
    current.push(name)
    elements += size
  }
  if (current.length > 0) groups.push(current)
  return groups
}

/** The same update as one fused native kernel (wasm and cpu with the addon): [new p, new m, new v]. */
export function adamwUpdateFused(p: tf.Tensor, grad: tf.Tensor, m: tf.Tensor, v: tf.Tensor, scale: tf.Scalar, c: UpdateConstants): tf.Tensor[] {
  return tf.engine().runKernel(ADAMW, { param: p, grad, m, v, scale }, { ...c }) as tf.Tensor[]
}

function checkOptions(o: Required<Omit<AdamWOptions, 'decays'>>): void {
  if (!(Number.isFinite(o.lr) && o.lr >= 0)) throw new Error(`AdamW: lr must be a number >= 0, got ${o.lr}`)
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(o[key] >= 0 && o[key] < 1)) throw new Error(`AdamW: ${key} must be in [0, 1), got ${o[key]}`)
  }
  if (!(o.eps > 0)) throw new Error(`AdamW: eps must be > 0, got ${o.eps}`)
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) throw new Error(`AdamW: weightDecay must be >= 0, got ${o.weightDecay}`)
}

/**
 * Scales all gradients together so their global L2 norm is at most maxNorm (PyTorch's
 * clip_grad_norm_: coefficient maxNorm / (norm + 1e-6), capped at 1). Returns new gradient
 * tensors (the caller owns both these and the inputs) and the pre-clip norm as a scalar tensor:
 * read it (dataSync) at log time only, so a step never waits on the device.
 */
export function clipByGlobalNorm(grads: Record<string, tf.Tensor>, maxNorm: number): { grads: Record<string, tf.Tensor>; norm: tf.Scalar } {
  return tf.tidy(() => {
    const { scale, norm } = clipCoefficient(grads, maxNorm)
    const clipped: Record<string, tf.Tensor> = {}
    for (const n of Object.keys(grads).sort()) clipped[n] = tf.mul(grads[n], scale)
    return { grads: clipped, norm }
  })
}

/** sqrt of the sum of squares of every element of `tensors`, as a scalar: one native kernel on wasm and cpu with the addon (sums in double), else tfjs's ops. */
export function globalNorm(tensors: tf.Tensor[]): tf.Scalar {
  if (nativeGlobalNormActive()) return tf.engine().runKernel(GLOBAL_NORM, tensors as unknown as tf.NamedTensorMap) as tf.Scalar
  return globalNormTfjs(tensors)
}

/** The tfjs formulation of globalNorm: a square and a sum per tensor, summed in float32. */
export function globalNormTfjs(tensors: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    const squares = tensors.map((t) => tf.sum(tf.square(t)))
    // stack + sum, not addN: WebGPU's addN takes at most 7 inputs (one storage buffer each, 8 per
    // shader) and a model has dozens of parameters; its concat splits long input lists itself.
    return tf.sqrt(squares.length > 0 ? tf.sum(tf.stack(squares)) : tf.scalar(0)) as tf.Scalar
  })
}

/**
 * The clip of clipByGlobalNorm without applying it: the coefficient min(maxNorm / (norm + 1e-6), 1)
 * and the pre-clip norm, as scalar tensors (the caller owns them). Pass the coefficient to
 * AdamW.applyGradients as its gradScale: the same update with no scaled copy of each gradient.
 */
export function clipCoefficient(grads: Record<string, tf.Tensor>, maxNorm: number): { scale: tf.Scalar; norm: tf.Scalar } {
  if (!(maxNorm > 0)) throw new Error(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`)
  return tf.tidy(() => {
    // Sorted: the sum (and so the clip factor, to the last bit) must not depend on the order in
    // which variables were created, which differs between a fresh and a resumed run.
    const names = Object.keys(grads).sort()
    const norm = globalNorm(names.map((n) => grads[n]))
    const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1) as tf.Scalar
    return { scale, norm }
  })
}
