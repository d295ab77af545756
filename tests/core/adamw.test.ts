import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { AdamW, clipByGlobalNorm } from '../../core/train/adamw'
import { torchRef } from '../fixtures/hf/torch'
import { describeWith } from '../references'

const W0 = [0.5, -1.0, 2.0, 0.25] // a [2, 2] matrix: decayed
const N0 = [1.0, -0.5] // a [2] norm weight: never decayed
const GRADS = [
  { w: [0.1, -0.2, 0.3, 0.0], n: [1.0, -2.0] },
  { w: [-0.3, 0.1, 0.2, 0.5], n: [0.5, 0.5] },
]
const HP = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-5, weightDecay: 0.1 }

/** The update rule written out with plain numbers, element by element (float64). */
function handAdamW(p0: number[], grads: number[][], decay: boolean): number[][] {
  const { lr, beta1, beta2, eps, weightDecay } = HP
  const p = [...p0]
  const m = p.map(() => 0)
  const v = p.map(() => 0)
  const history: number[][] = []
  grads.forEach((g, index) => {
    const t = index + 1
    for (let i = 0; i < p.length; i++) {
      if (decay) p[i] *= 1 - lr * weightDecay
      m[i] = beta1 * m[i] + (1 - beta1) * g[i]
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
      const mHat = m[i] / (1 - beta1 ** t)
      const vHat = v[i] / (1 - beta2 ** t)
      p[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps)
    }
    history.push([...p])
  })
  return history
}

function makeParams(): Record<string, tf.Variable> {
  return { w: tf.variable(tf.tensor2d(W0, [2, 2])), n: tf.variable(tf.tensor1d(N0)) }
}

function stepWith(opt: AdamW, g: { w: number[]; n: number[] }): void {
  const grads = { w: tf.tensor2d(g.w, [2, 2]), n: tf.tensor1d(g.n) }
  opt.applyGradients(grads, HP.lr)
  grads.w.dispose()
  grads.n.dispose()
}

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync())
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`AdamW on ${backend}`, () => {
    beforeAll(async () => {
      await initBackend(backend)
    })

    it('matches the hand-computed update for two steps: matrices decayed, norm weights not', () => {
      const params = makeParams()
      const opt = new AdamW(params, HP)
      expect(opt.decays('w')).toBe(true)
      expect(opt.decays('n')).toBe(false)
      const wantW = handAdamW(W0, GRADS.map((g) => g.w), true)
      const wantN = handAdamW(N0, GRADS.map((g) => g.n), false)
      GRADS.forEach((g, i) => {
        stepWith(opt, g)
        values(params.w).forEach((x, j) => expect(x).toBeCloseTo(wantW[i][j], 6))
        values(params.n).forEach((x, j) => expect(x).toBeCloseTo(wantN[i][j], 6))
      })
      expect(opt.step).toBe(2)
      // Step 1 of Adam moves every coordinate with a nonzero gradient by about lr; a zero
      // gradient moves only by the decay: 0.25 * (1 - 0.01 * 0.1) after step 1 (checked in wantW).
      expect(wantW[0][3]).toBeCloseTo(0.25 * 0.999, 12)
      opt.dispose()
      Object.values(params).forEach((p) => p.dispose())
    })

    it('takes gradients keyed by tf variable name (as tf.variableGrads returns them)', () => {
      const params = makeParams()
      const opt = new AdamW(params, HP)
      const { grads } = tf.variableGrads(() => tf.add(tf.sum(tf.mul(params.w, 2)), tf.sum(params.n)) as tf.Scalar, [params.w, params.n])
      expect(Object.keys(grads)).toEqual([params.w.name, params.n.name])
      opt.applyGradients(grads)
      tf.dispose(grads)
      // gradient 2 everywhere for w, 1 for n: each moves by about lr against the sign
      values(params.w).forEach((x, j) => expect(x).toBeCloseTo(W0[j] * (1 - 0.001) - 0.01, 5))
      values(params.n).forEach((x, j) => expect(x).toBeCloseTo(N0[j] - 0.01, 5))
      opt.dispose()
      Object.values(params).forEach((p) => p.dispose())
    })

    it('resumes from getState/setState exactly as if never interrupted', () => {
      const straight = makeParams()
      const a = new AdamW(straight, HP)
      GRADS.forEach((g) => stepWith(a, g))

      const first = makeParams()
      const b = new AdamW(first, HP)
      stepWith(b, GRADS[0])
      const state = b.getState()
      const copy = { step: state.step, m: mapValues(state.m, (t) => t.clone()), v: mapValues(state.v, (t) => t.clone()) }
      const resumedParams = { w: tf.variable(first.w.clone()), n: tf.variable(first.n.clone()) }
      const c = new AdamW(resumedParams, HP)
      c.setState(copy)
      stepWith(c, GRADS[1])
      expect(values(resumedParams.w)).toEqual(values(straight.w))
      expect(values(resumedParams.n)).toEqual(values(straight.n))
      expect(c.step).toBe(2)
      for (const o of [a, b, c]) o.dispose()
      tf.dispose([...Object.values(straight), ...Object.values(first), ...Object.values(resumedParams), copy.m, copy.v] as never)
    })

    it('keeps the tensor count constant across steps', () => {
      const params = makeParams()
      const opt = new AdamW(params, HP)
      stepWith(opt, GRADS[0])
      const before = tf.memory().numTensors
      for (let i = 0; i < 5; i++) stepWith(opt, GRADS[i % 2])
      expect(tf.memory().numTensors).toBe(before)
      opt.dispose()
      Object.values(params).forEach((p) => p.dispose())
    })

    it('clips by global norm and returns the pre-clip norm', () => {
      const grads = { a: tf.tensor1d([3, 0]), b: tf.tensor2d([[0, 4]]) }
      const clipped = clipByGlobalNorm(grads, 1)
      expect(clipped.norm.dataSync()[0]).toBeCloseTo(5, 6)
      expect(values(clipped.grads.a)).toEqual([expect.closeTo(0.6, 6), 0])
      expect(values(clipped.grads.b)).toEqual([0, expect.closeTo(0.8, 6)])
      expect(clipped.grads.b.shape).toEqual([1, 2])
      const untouched = clipByGlobalNorm(grads, 10)
      expect(values(untouched.grads.a)).toEqual([3, 0])
      tf.dispose([grads, clipped, untouched] as never)
    })
  })
}

describe('AdamW errors', () => {
  it('names the parameter for a bad gradient or a mismatched state', () => {
    const params = makeParams()
    const opt = new AdamW(params)
    expect(() => opt.applyGradients({ nope: tf.zeros([2]) })).toThrow(/gradient for unknown parameter "nope"/)
    expect(() => opt.applyGradients({ w: tf.zeros([4]) })).toThrow(/gradient for w has shape \[4\], the parameter has \[2,2\]/)
    expect(() => opt.setState({ step: 1, m: { w: tf.zeros([2, 2]) }, v: {} })).toThrow(
      /v for w is missing[\s\S]*m for n is missing/,
    )
    expect(() => new AdamW(params, { beta2: 1 })).toThrow(/beta2 must be in \[0, 1\)/)
    opt.dispose()
  })
})

describeWith('torch', 'AdamW against torch.optim.AdamW', () => {
  it('gives the same parameters after three steps', async () => {
    await initBackend('cpu')
    const grads = [...GRADS, { w: [1e-3, -5, 0.7, 2], n: [0, 3] }]
    const history = torchRef<Array<Record<string, number[]>>>(['adamw'], {
      params: { w: { shape: [2, 2], values: W0 }, n: { shape: [2], values: N0 } },
      grads: grads.map((g) => ({ w: g.w, n: g.n })),
      ...HP,
      weight_decay: HP.weightDecay,
    })
    const params = makeParams()
    const opt = new AdamW(params, HP)
    grads.forEach((g, i) => {
      stepWith(opt, g)
      values(params.w).forEach((x, j) => expect(x).toBeCloseTo(history[i].w[j], 6))
      values(params.n).forEach((x, j) => expect(x).toBeCloseTo(history[i].n[j], 6))
    })
    opt.dispose()
    Object.values(params).forEach((p) => p.dispose())
  })
})

function mapValues<T, U>(o: Record<string, T>, f: (t: T) => U): Record<string, U> {
  return Object.fromEntries(Object.entries(o).map(([k, t]) => [k, f(t)]))
}

describe('AdamW memory', () => {
  beforeAll(async () => {
    await initBackend('wasm')
  })

  it("frees one group's update temporaries before the next group's (one parameter's without the native kernel)", async () => {
    const { BufferMeter } = await import('../../core/backend/bufferMeter')
    const size = 4096 // floats per parameter
    const meter = new BufferMeter().start()
    // In tidies, as the training loop makes them, so the variables own the only copy of their data.
    const params = tf.tidy(() => Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`w${i}`, tf.variable(tf.fill([64, 64], 0.5))])))
    let optimizer!: AdamW
    tf.tidy(() => {
      optimizer = new AdamW(params)
    })
    const grads = Object.fromEntries(Object.keys(params).map((name) => [name, tf.fill([64, 64], 0.1)]))
    const before = meter.liveBytes // weights, two moments, gradients
    meter.resetPeak()
    // The many-parameter kernel updates two of these parameters at a time here (the default group
    // is about a million elements: 12 MB of new weights and moments beside the old ones at most).
    optimizer.applyGradients(grads, undefined, undefined, 2 * size)
    meter.stop()
    // New p, m, v of one group of two (or a dozen temporaries of one parameter on the tfjs path);
    // of all eight at once before the fix: ~110.
    expect((meter.peakBytes - before) / (4 * size)).toBeLessThan(16)
    expect(meter.liveBytes).toBe(before) // the new weights and moments replace the old ones
    optimizer.dispose()
    tf.dispose([...Object.values(params), ...Object.values(grads)])
  })
})
