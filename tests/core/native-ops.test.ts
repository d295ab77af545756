// The fused native kernels (core/model/kernels/rmsNorm.ts, swiglu.ts, targetLogProbs.ts,
// maskedSoftmax.ts, rope.ts over native/fastgemm; AdamW's update in core/train/adamw.ts) against the tfjs formulations they replace:
// values and gradients, on the two backends they serve, and the same result whatever the native
// thread count. Needs the addon (tests/references.ts).
import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'
import { NATIVE_ADD_MIN, nativeAdamWActive, nativeAdamWManyActive, nativeAddActive, nativeGlobalNormActive, nativeOpsActive } from '../../core/backend/kernels/nativeOps'
import { AdamW, adamwUpdateFused, adamwUpdateTfjs, clipByGlobalNorm, clipCoefficient, globalNorm, globalNormTfjs, parameterGroups } from '../../core/train/adamw'
import { rmsNorm, rmsNormFused, rmsNormTfjs } from '../../core/model/kernels/rmsNorm'
import { swigluGate, swigluGateFused, swigluGateTfjs } from '../../core/model/kernels/swiglu'
import { logSumExpRows, targetLogProbs, targetLogProbsFused, targetLogProbsTfjs } from '../../core/model/kernels/targetLogProbs'
import { maskedSoftmax, maskedSoftmaxFused, maskedSoftmaxTfjs } from '../../core/model/kernels/maskedSoftmax'
import { rope, ropeFused, ropeTfjs } from '../../core/model/kernels/rope'
import { gatherRows, gatherRowsNative, gatherRowsTfjs } from '../../core/model/kernels/gatherRows'
import { causalMask, createRopeTables } from '../../core/model/llama'
import { mulberry32 } from '../../core/util/random'
import { describeWith } from '../references'
import { maxAbsDifference } from '../numerics'

function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed)
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * scale)
}

/** Value, dx and dweight of sum(norm(x, w) * r) for a fixed random r. */
function valueAndGrads(norm: typeof rmsNormTfjs, x: Float32Array, w: Float32Array, r: Float32Array, [n, d]: [number, number]) {
  return tf.tidy(() => {
    const xt = tf.tensor2d(x, [n, d])
    const wt = tf.tensor1d(w)
    const rt = tf.tensor2d(r, [n, d])
    const value = norm(xt, wt, 1e-5).dataSync()
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(norm(a as tf.Tensor2D, b as tf.Tensor1D, 1e-5), rt)))([xt, wt])
    return { value, dx: dx.dataSync(), dw: dw.dataSync() }
  })
}

function expectClose(actual: Float32Array | Uint8Array | Int32Array, expected: Float32Array | Uint8Array | Int32Array, tolerance: number, what: string) {
  let worst = 0
  let scale = 0
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]))
    scale = Math.max(scale, Math.abs(expected[i]))
  }
  expect(worst, `${what}: worst difference ${worst} (largest value ${scale})`).toBeLessThanOrEqual(tolerance * Math.max(scale, 1))
}

describeWith('native-matmul', 'fused native RMSNorm', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  it.each([
    [1, 1],
    [7, 32],
    [300, 128], // many rows: split across threads
    [5, 1000],
  ])('matches the tfjs formulation in value and both gradients (N=%i, D=%i)', (n, d) => {
    const x = randomArray(n * d, n + d, 4)
    const w = randomArray(d, d, 2)
    const r = randomArray(n * d, 3 * n + d)
    const fused = valueAndGrads(rmsNormFused, x, w, r, [n, d])
    const reference = valueAndGrads(rmsNormTfjs, x, w, r, [n, d])
    expectClose(fused.value, reference.value, 1e-5, 'value')
    expectClose(fused.dx, reference.dx, 1e-5, 'dx')
    expectClose(fused.dw, reference.dw, 1e-5 * Math.sqrt(n), 'dweight')
  })

  it('is the op the model uses here', () => {
    const x = tf.tensor2d(randomArray(12, 1), [3, 4])
    const w = tf.ones([4]) as tf.Tensor1D
    expect(Array.from(rmsNorm(x, w, 1e-5).dataSync())).toEqual(Array.from(rmsNormFused(x, w, 1e-5).dataSync()))
    tf.dispose([x, w])
  })

  // Each thread sums its rows' dweight in its own cache-line-aligned row of partial sums; a width
  // that is not a multiple of 16 floats exercises the padding between those rows.
  it.each([
    [512, 256],
    [512, 200],
  ])('gives the same values and dx at 1 and 3 native threads, and dweight within 1e-6 (N=%i, D=%i)', (n, d) => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    const x = randomArray(n * d, 5, 3)
    const w = randomArray(d, 6)
    const r = randomArray(n * d, 7)
    gemm.setThreads(1)
    const one = valueAndGrads(rmsNormFused, x, w, r, [n, d])
    gemm.setThreads(3)
    const three = valueAndGrads(rmsNormFused, x, w, r, [n, d])
    gemm.setThreads(before)
    expect(Array.from(three.value)).toEqual(Array.from(one.value))
    expect(Array.from(three.dx)).toEqual(Array.from(one.dx))
    expectClose(three.dw, one.dw, 1e-6, 'dweight')
    expectClose(three.dw, valueAndGrads(rmsNormTfjs, x, w, r, [n, d]).dw, 1e-5 * Math.sqrt(n), 'dweight against tfjs')
  })
}))

/** Value, dg and du of sum(gate(g, u) * r) for a fixed random r. */
function gateValueAndGrads(gate: typeof swigluGateTfjs, g: Float32Array, u: Float32Array, r: Float32Array, shape: [number, number]) {
  return tf.tidy(() => {
    const [gt, ut, rt] = [g, u, r].map((a) => tf.tensor2d(a, shape))
    const value = gate(gt as tf.Tensor2D, ut as tf.Tensor2D).dataSync()
    const [dg, du] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(gate(a as tf.Tensor2D, b as tf.Tensor2D), rt)))([gt, ut])
    return { value, dg: dg.dataSync(), du: du.dataSync() }
  })
}

describeWith('native-matmul', 'fused native SwiGLU gate', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  it.each([
    [1, 1],
    [7, 33],
    [512, 384], // many elements: split across threads
  ])('matches the tfjs formulation in value and both gradients ([%i, %i], g up to +-20)', (n, h) => {
    const g = randomArray(n * h, n + h, 40)
    const u = randomArray(n * h, 2 * n + h, 4)
    const r = randomArray(n * h, 3 * n + h)
    const fused = gateValueAndGrads(swigluGateFused, g, u, r, [n, h])
    const reference = gateValueAndGrads(swigluGateTfjs, g, u, r, [n, h])
    expectClose(fused.value, reference.value, 1e-5, 'value')
    expectClose(fused.dg, reference.dg, 1e-5, 'dg')
    expectClose(fused.du, reference.du, 1e-5, 'du')
  })

  it('is the op the model uses here, and gives bitwise the same result at 1 and 3 native threads', () => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    const [n, h] = [256, 512]
    const g = randomArray(n * h, 8, 10)
    const u = randomArray(n * h, 9)
    const r = randomArray(n * h, 10)
    gemm.setThreads(1)
    const one = gateValueAndGrads(swigluGate, g, u, r, [n, h])
    gemm.setThreads(3)
    const three = gateValueAndGrads(swigluGateFused, g, u, r, [n, h])
    gemm.setThreads(before)
    for (const key of ['value', 'dg', 'du'] as const) expect(Array.from(three[key]), key).toEqual(Array.from(one[key]))
  })
}))

/** Value and the gradient for the first input of sum(op(inputs) * r), r a fixed random tensor of the output's shape. */
function firstGrad(op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], seed: number) {
  return tf.tidy(() => {
    const value = op(...inputs)
    const r = tf.tensor(randomArray(value.size, seed), value.shape)
    const grad = tf.grad((first: tf.Tensor) => tf.sum(tf.mul(op(first, ...inputs.slice(1)), r)))(inputs[0])
    return { value: value.dataSync() as Float32Array, grad: grad.dataSync() as Float32Array }
  })
}

/** The fused op and its tfjs formulation agree in value and first-input gradient; returns the fused result. */
function expectSameAsTfjs(fused: (...inputs: tf.Tensor[]) => tf.Tensor, reference: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], tolerance: number) {
  const a = firstGrad(fused, inputs, 99)
  const b = firstGrad(reference, inputs, 99)
  expectClose(a.value, b.value, tolerance, 'value')
  expectClose(a.grad, b.grad, tolerance, 'gradient')
  return a
}

/** Same values at 1 and 3 native threads, bitwise. */
function expectThreadInvariant(op: (...inputs: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]) {
  const gemm = loadFastGemm()!
  const before = gemm.threads()
  gemm.setThreads(1)
  const one = firstGrad(op, inputs, 5)
  gemm.setThreads(3)
  const three = firstGrad(op, inputs, 5)
  gemm.setThreads(before)
  expect(Array.from(three.value)).toEqual(Array.from(one.value))
  expect(Array.from(three.grad)).toEqual(Array.from(one.grad))
}

describeWith('native-matmul', 'fused native log-softmax with the target pick', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  const inputs = (n: number, v: number, spread: number) => {
    const rand = mulberry32(n * v)
    const targets = Int32Array.from({ length: n }, () => Math.floor(rand() * v))
    return [tf.tensor2d(randomArray(n * v, n + v, spread), [n, v]), tf.tensor1d(targets, 'int32')]
  }
  const fused = (x: tf.Tensor, t: tf.Tensor) => targetLogProbsFused(x as tf.Tensor2D, t as tf.Tensor1D)
  const reference = (x: tf.Tensor, t: tf.Tensor) => targetLogProbsTfjs(x as tf.Tensor2D, t as tf.Tensor1D)

  it.each([
    [1, 2, 2], // tfjs's oneHot needs two classes at least
    [7, 33, 2],
    [300, 512, 10], // many rows: split across threads
    [4, 5000, 60], // logits far apart: the max-shifted sum keeps it finite
  ])('matches the tfjs formulation in value and gradient (N=%i, V=%i, logits within +-%i)', (n, v, spread) => {
    const ts = inputs(n, v, spread)
    expectSameAsTfjs(fused, reference, ts, 1e-5)
    tf.dispose(ts)
  })

  it('picks nothing for a target outside the vocabulary, as the tfjs one-hot does', () => {
    const ts = [tf.tensor2d(randomArray(12, 3, 4), [3, 4]), tf.tensor1d([1, -1, 4], 'int32')]
    expectSameAsTfjs(fused, reference, ts, 1e-5)
    tf.dispose(ts)
  })

  it('is the op the model uses here, and gives bitwise the same result at 1 and 3 native threads', () => {
    const ts = inputs(256, 300, 8)
    expect(Array.from(targetLogProbs(ts[0] as tf.Tensor2D, ts[1] as tf.Tensor1D).dataSync())).toEqual(Array.from(fused(ts[0], ts[1]).dataSync()))
    expectThreadInvariant(fused, ts)
    tf.dispose(ts)
  })

  it('gives generation its log-sum-exp per row (logSumExpRows) as tf.logSumExp does', () => {
    for (const [n, v, spread] of [[1, 2, 2], [8, 4096, 10], [3, 5000, 60]]) {
      const [x] = inputs(n, v, spread)
      const ours = logSumExpRows(x as tf.Tensor2D)
      const theirs = tf.logSumExp(x, 1, true)
      expect(ours.shape).toEqual([n, 1])
      expect(maxAbsDifference(ours.dataSync(), theirs.dataSync()), `N=${n}, V=${v}`).toBeLessThan(1e-5)
      tf.dispose([x, ours, theirs])
    }
  })
}))

describeWith('native-matmul', 'fused native attention softmax with its mask', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  const fused = (s: tf.Tensor, m: tf.Tensor) => maskedSoftmaxFused(s as tf.Tensor3D, m as tf.Tensor2D | tf.Tensor3D)
  const reference = (s: tf.Tensor, m: tf.Tensor) => maskedSoftmaxTfjs(s as tf.Tensor3D, m as tf.Tensor2D | tf.Tensor3D)

  it.each([
    [1, 1, 1, 0, 1],
    [4, 16, 16, 0, 2], // causal, two grouped query heads per KV head
    [64, 64, 64, 0, 1], // many rows: split across threads
    [6, 3, 10, 7, 1], // a chunk at positions 7..9 against keys 0..9
  ])('matches the tfjs formulation with the causal mask (G=%i, T=%i, keys %i, start %i, rep %i)', (groups, seq, keys, start, rep) => {
    const scores = tf.tensor3d(randomArray(groups * rep * seq * keys, groups + seq, 6), [groups, rep * seq, keys])
    const mask = causalMask(seq, keys, start, start + seq - keys, rep)
    expectSameAsTfjs(fused, reference, [scores, mask], 1e-5)
    tf.dispose([scores, mask])
  })

  it('matches the tfjs formulation with a padded batch\'s mask per row (rows of only masked keys included)', () => {
    const [batch, heads, seq] = [3, 2, 6]
    const scores = tf.tensor3d(randomArray(batch * heads * seq * seq, 11, 6), [batch * heads, seq, seq])
    const mask = causalMask(seq, seq, 0, 0, 1, [0, 2, 5])
    expectSameAsTfjs(fused, reference, [scores, mask], 1e-5)
    tf.dispose([scores, mask])
  })

  it('is the op the model uses here, and gives bitwise the same result at 1 and 3 native threads', () => {
    const scores = tf.tensor3d(randomArray(16 * 64 * 64, 12, 6), [16, 64, 64])
    const mask = causalMask(32, 64, 32, 0, 2)
    expect(Array.from(maskedSoftmax(scores, mask).dataSync())).toEqual(Array.from(fused(scores, mask).dataSync()))
    expectThreadInvariant(fused, [scores, mask])
    tf.dispose([scores, mask])
  })
}))

describeWith('native-matmul', 'fused native rotary embedding', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  /** x [B*T, H*hd] and the cos, sin rows of positions start.., one table for all rows or (perRow) one per row with its own start. */
  function inputs(batch: number, seq: number, heads: number, hd: number, perRow: boolean) {
    const tables = createRopeTables(hd, 64, 10000)
    const starts = perRow ? Array.from({ length: batch }, (_, b) => 3 * b) : [5]
    const ids = tf.tensor1d(starts.flatMap((s) => Array.from({ length: seq }, (_, t) => s + t)), 'int32')
    const rows = starts.length
    const cos = tf.reshape(tf.gather(tables.cos, ids), [rows, seq, 1, hd])
    const sin = tf.reshape(tf.gather(tables.sin, ids), [rows, seq, 1, hd])
    const x = tf.tensor2d(randomArray(batch * seq * heads * hd, batch + seq + heads, 4), [batch * seq, heads * hd])
    tf.dispose([tables.cos, tables.sin, ids])
    return { x, cos, sin, rotateHalf: tables.rotateHalf }
  }

  it.each([
    [1, 1, 1, 2, false],
    [2, 8, 4, 16, false],
    [16, 32, 4, 32, false], // many rows: split across threads
    [3, 5, 2, 8, true], // a padded batch: each row at its own positions
  ])('matches the tfjs formulation in value and gradient (B=%i, T=%i, H=%i, hd=%i, tables per row %s)', (batch, seq, heads, hd, perRow) => {
    const { x, cos, sin, rotateHalf } = inputs(batch, seq, heads, hd, perRow)
    const fused = (a: tf.Tensor) => ropeFused(a as tf.Tensor2D, cos as tf.Tensor4D, sin as tf.Tensor4D)
    const reference = (a: tf.Tensor) => ropeTfjs(a as tf.Tensor2D, cos as tf.Tensor4D, sin as tf.Tensor4D, rotateHalf)
    expectSameAsTfjs(fused, reference, [x], 1e-5)
    tf.dispose([x, cos, sin, rotateHalf])
  })

  it('is the op the model uses here, and gives bitwise the same result at 1 and 3 native threads', () => {
    const { x, cos, sin, rotateHalf } = inputs(16, 32, 4, 32, false)
    const fused = (a: tf.Tensor) => ropeFused(a as tf.Tensor2D, cos as tf.Tensor4D, sin as tf.Tensor4D)
    expect(Array.from(rope(x, cos as tf.Tensor4D, sin as tf.Tensor4D, rotateHalf).dataSync())).toEqual(Array.from(fused(x).dataSync()))
    expectThreadInvariant(fused, [x])
    tf.dispose([x, cos, sin, rotateHalf])
  })
}))

describeWith('native-matmul', 'native row gather (embedding lookup) and its scatter gradient', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeOpsActive()).toBe(true)
  })

  const inputs = (rows: number, width: number, n: number) => {
    const rand = mulberry32(rows * width + n)
    const ids = Int32Array.from({ length: n }, () => Math.floor(rand() * rows)) // repeated ids: their gradients add up
    return [tf.tensor2d(randomArray(rows * width, rows + width, 2), [rows, width]), tf.tensor1d(ids, 'int32')]
  }
  const native = (t: tf.Tensor, i: tf.Tensor) => gatherRowsNative(t as tf.Tensor2D, i as tf.Tensor1D)
  const reference = (t: tf.Tensor, i: tf.Tensor) => gatherRowsTfjs(t as tf.Tensor2D, i as tf.Tensor1D)

  it.each([
    [1, 1, 1],
    [5, 3, 40],
    [512, 128, 2048], // the tiny preset's embedding: split across threads
  ])('matches the tfjs formulation in value and table gradient (rows %i, width %i, %i ids)', (rows, width, n) => {
    const ts = inputs(rows, width, n)
    expectSameAsTfjs(native, reference, ts, 1e-6)
    tf.dispose(ts)
  })

  it('refuses an id outside the table, naming it, in both directions', () => {
    const table = tf.tensor2d(randomArray(6, 1), [3, 2])
    const ids = tf.tensor1d([0, 3], 'int32')
    const dy = tf.ones([2, 2])
    expect(() => gatherRowsNative(table, ids)).toThrow(/id 3 at position 1 is outside the table's 3 rows/)
    expect(() => tf.engine().runKernel('WorkbenchScatterRows', { ids, dy }, { rows: 3 })).toThrow(/id 3 at position 1/)
    tf.dispose([table, ids, dy])
  })

  it('is the op the model uses here, and gives bitwise the same result at 1 and 3 native threads', () => {
    const ts = inputs(300, 64, 1000)
    expect(Array.from(gatherRows(ts[0] as tf.Tensor2D, ts[1] as tf.Tensor1D).dataSync())).toEqual(Array.from(native(ts[0], ts[1]).dataSync()))
    expectThreadInvariant(native, ts)
    tf.dispose(ts)
  })
}))

/** Bitwise equality of two float arrays, naming the first element that differs (toEqual on 10^5 elements is slow). */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string) {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length)
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length)
  const first = a.findIndex((bits, i) => bits !== b[i])
  expect(a.length, `${what}: length`).toBe(b.length)
  expect(first === -1 ? 'none' : `element ${first}: ${actual[first]} vs ${expected[first]}`, `${what}: first difference`).toBe('none')
}

describeWith('native-matmul', 'fused native AdamW update', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeAdamWActive()).toBe(true)
  })

  /** Three updates of one parameter with `update`, the moments carried over: every p, m, v on the way. */
  function threeSteps(update: typeof adamwUpdateFused, shape: number[], scale: number, decay: boolean): Float32Array[] {
    const n = shape.reduce((a, b) => a * b, 1)
    return tf.tidy(() => {
      let [p, m, v] = [tf.tensor(randomArray(n, 1, 2), shape), tf.zeros(shape), tf.zeros(shape)]
      const out: Float32Array[] = []
      for (let t = 1; t <= 3; t++) {
        const g = tf.tensor(randomArray(n, 10 + t, 3), shape)
        const c = { beta1: 0.9, beta2: 0.95, eps: 1e-5, stepSize: 3e-4 / (1 - 0.9 ** t), sqrtBias2: Math.sqrt(1 - 0.95 ** t), decay: decay ? 1 - 3e-4 * 0.1 : 1 }
        ;[p, m, v] = update(p, g, m, v, tf.scalar(scale), c)
        out.push(p.dataSync() as Float32Array, m.dataSync() as Float32Array, v.dataSync() as Float32Array)
      }
      return out
    })
  }

  it.each([
    [[4], 1, false],
    [[64, 64], 0.37, true],
    [[300, 400], 0.61, true], // above the threading threshold: split across threads
  ])('gives bitwise the tfjs formulation\'s p, m and v over three steps (shape %j, clip scale %f, decay %s)', (shape, scale, decay) => {
    const fused = threeSteps(adamwUpdateFused, shape as number[], scale as number, decay as boolean)
    const reference = threeSteps(adamwUpdateTfjs, shape as number[], scale as number, decay as boolean)
    fused.forEach((x, i) => expectSameBits(x, reference[i], `step ${Math.floor(i / 3) + 1}, ${['p', 'm', 'v'][i % 3]}`))
  })

  it('gives bitwise the same result at 1 and 3 native threads', () => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    gemm.setThreads(1)
    const one = threeSteps(adamwUpdateFused, [300, 400], 0.61, true)
    gemm.setThreads(3)
    const three = threeSteps(adamwUpdateFused, [300, 400], 0.61, true)
    gemm.setThreads(before)
    one.forEach((x, i) => expectSameBits(three[i], x, `array ${i}`))
  })

  it('is what AdamW uses here: the clip coefficient as a gradient scale gives the clipped gradients\' update to the bit', () => {
    const run = (folded: boolean) => tf.tidy(() => {
      const params = { w: tf.variable(tf.tensor2d(randomArray(64 * 48, 3, 2), [64, 48])), n: tf.variable(tf.tensor1d(randomArray(48, 4, 2))) }
      const optimizer = new AdamW(params)
      for (let t = 1; t <= 2; t++) {
        const grads = { w: tf.tensor2d(randomArray(64 * 48, 20 + t, 5), [64, 48]), n: tf.tensor1d(randomArray(48, 30 + t, 5)) }
        if (folded) optimizer.applyGradients(grads, 1e-3, clipCoefficient(grads, 1).scale)
        else optimizer.applyGradients(clipByGlobalNorm(grads, 1).grads, 1e-3)
      }
      const state = optimizer.getState()
      const out = [params.w, params.n, state.m.w, state.v.n].map((x) => Array.from(x.dataSync()))
      optimizer.dispose()
      return out
    })
    expect(run(true)).toEqual(run(false))
  })
}))

describeWith('native-matmul', 'AdamW of many parameters in one native kernel', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeAdamWManyActive()).toBe(true)
  })

  // Sizes across the kernel's 16,384-element blocks, with and without weight decay (rank >= 2).
  const shapes: Record<string, number[]> = { a: [3], b: [64, 257], c: [128], d: [300, 400], e: [16384], f: [7, 5] }

  /** Three AdamW steps over every parameter: with the many-parameter kernel or one kernel per parameter; every p, m, v after. */
  function threeSteps(many: boolean, groupLimit?: number): Float32Array[] {
    return tf.tidy(() => {
      const params = Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, tf.variable(tf.tensor(randomArray(shape.reduce((x, y) => x * y, 1), i, 2), shape))]))
      const optimizer = new AdamW(params)
      const grads = (t: number) => Object.fromEntries(Object.entries(shapes).map(([name, shape], i) => [name, tf.tensor(randomArray(shape.reduce((x, y) => x * y, 1), 10 * t + i, 4), shape)]))
      for (let t = 1; t <= 3; t++) {
        const g = grads(t)
        if (many) optimizer.applyGradients(g, 1e-3, clipCoefficient(g, 1).scale, groupLimit)
        else {
          // The per-parameter kernel, as AdamW ran it before: the same constants as applyGradients makes.
          const { beta1, beta2, eps, weightDecay } = optimizer.options
          const { scale } = clipCoefficient(g, 1)
          for (const name of Object.keys(g)) {
            const c = { beta1, beta2, eps, stepSize: 1e-3 / (1 - beta1 ** t), sqrtBias2: Math.sqrt(1 - beta2 ** t), decay: optimizer.decays(name) ? 1 - 1e-3 * weightDecay : 1 }
            const state = optimizer.getState()
            const [p, m, v] = adamwUpdateFused(params[name], g[name], state.m[name], state.v[name], scale, c)
            params[name].assign(p)
            ;(state.m[name] as tf.Variable).assign(m)
            ;(state.v[name] as tf.Variable).assign(v)
          }
          optimizer.step = t
        }
      }
      const state = optimizer.getState()
      const out = Object.keys(shapes).flatMap((name) => [params[name], state.m[name], state.v[name]].map((x) => x.dataSync() as Float32Array))
      optimizer.dispose()
      return out
    })
  }

  it('gives bitwise what one kernel per parameter gives, in one group or several, at 1 and 3 native threads', () => {
    const reference = threeSteps(false)
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    for (const threads of [1, 3]) {
      gemm.setThreads(threads)
      for (const limit of [undefined, 20_000]) { // one group; groups of about 20K elements (d alone)
        threeSteps(true, limit).forEach((x, i) => expectSameBits(x, reference[i], `${threads} thread(s), group limit ${limit ?? 'default'}: ${Object.keys(shapes)[Math.floor(i / 3)]}.${['p', 'm', 'v'][i % 3]}`))
      }
    }
    gemm.setThreads(before)
  })

  it('groups consecutive parameters up to the element limit, a larger one alone', () => {
    const sizes: Record<string, number> = { a: 10, b: 30, c: 70, d: 5, e: 5, f: 100 }
    expect(parameterGroups(Object.keys(sizes), (n) => sizes[n], 50)).toEqual([['a', 'b'], ['c'], ['d', 'e'], ['f']])
    expect(parameterGroups([], (n) => sizes[n], 50)).toEqual([])
  })
}))

describeWith('native-matmul', 'fused native global norm (gradient clipping)', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeGlobalNormActive()).toBe(true)
  })

  // Sizes across the kernel's 16,384-element blocks: tiny tensors, one just over a block, several blocks.
  const shapes = [[3], [128], [64, 257], [5], [300, 400], [1]]
  const tensorsOf = (seed: number) => shapes.map((shape, i) => tf.tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed + i, 4), shape))

  it('matches the sum of squares in double and the tfjs formulation within float32 rounding', () => {
    tf.tidy(() => {
      const tensors = tensorsOf(50)
      let exact = 0
      for (const t of tensors) for (const x of t.dataSync()) exact += x * x
      const fused = globalNorm(tensors).dataSync()[0]
      expect(Math.abs(fused - Math.sqrt(exact)) / Math.sqrt(exact)).toBeLessThan(1e-7) // one float32 rounding of the double result
      expect(Math.abs(fused - globalNormTfjs(tensors).dataSync()[0]) / fused).toBeLessThan(1e-5) // tfjs sums in float32
    })
  })

  it('gives bitwise the same norm at 1 and 3 native threads, 0 for no tensors, and clipCoefficient uses it', () => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    const norms = [1, 3].map((threads) => {
      gemm.setThreads(threads)
      return tf.tidy(() => globalNorm(tensorsOf(60)).dataSync()[0])
    })
    gemm.setThreads(before)
    expect(norms[1]).toBe(norms[0])
    expect(tf.tidy(() => globalNorm([]).dataSync()[0])).toBe(0)
    const grads = tf.tidy(() => Object.fromEntries(tensorsOf(60).map((t, i) => [`p${i}`, t])))
    const { norm, scale } = clipCoefficient(grads, 1)
    expect(norm.dataSync()[0]).toBe(norms[0])
    expect(scale.dataSync()[0]).toBeCloseTo(1 / (norms[0] + 1e-6), 6)
    tf.dispose([norm, scale, ...Object.values(grads)])
  })

  it('is one kernel call where tfjs makes two per tensor', async () => {
    const tensors = tensorsOf(70)
    const info = await tf.profile(() => { globalNorm(tensors).dispose() })
    expect(info.kernels.map((k) => k.name)).toEqual(['WorkbenchGlobalNorm'])
    tf.dispose(tensors)
  })

  it('names a tensor that is not float32', () => {
    const tensors = [tf.tensor1d([1, 2]), tf.tensor1d([1, 2], 'int32')]
    expect(() => globalNorm(tensors)).toThrow(/WorkbenchGlobalNorm: expects float32 tensors, got int32 at input 1/)
    tf.dispose(tensors)
  })
}))

describeWith('native-matmul', 'native Add of two same-shape tensors', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend)
    expect(nativeAddActive()).toBe(true)
  })

  it('gives bitwise the backend kernel\'s sums, at 1 and 3 native threads', () => {
    const n = 3 * NATIVE_ADD_MIN + 5
    const [a, b] = [randomArray(n, 80, 1e3), randomArray(n, 81, 1e-3)]
    const expected = a.map((x, i) => Math.fround(x + b[i]))
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    for (const threads of [1, 3]) {
      gemm.setThreads(threads)
      const sum = tf.tidy(() => tf.add(tf.tensor2d(a, [n, 1]), tf.tensor2d(b, [n, 1])).dataSync())
      expectSameBits(sum as Float32Array, expected, `${threads} threads`)
    }
    gemm.setThreads(before)
  })

  it('leaves broadcasts, int32, small tensors and the gradient to the backend\'s kernel, with the same results', () => {
    tf.tidy(() => {
      const big = tf.tensor2d(randomArray(NATIVE_ADD_MIN * 2, 82), [NATIVE_ADD_MIN, 2])
      expect(Array.from(tf.add(big, tf.tensor1d([1, 2])).dataSync().slice(0, 4))).toEqual(Array.from(big.dataSync().slice(0, 4)).map((x, i) => Math.fround(x + [1, 2][i % 2])))
      expect(Array.from(tf.add(tf.tensor1d([1, 2], 'int32'), tf.tensor1d([3, 4], 'int32')).dataSync())).toEqual([4, 6])
      expect(Array.from(tf.add(tf.tensor1d([1.5]), tf.tensor1d([2])).dataSync())).toEqual([3.5])
      const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.add(x, y), 2)))([big, tf.neg(big)])
      expect(da.dataSync().every((x) => x === 2) && db.dataSync().every((x) => x === 2)).toBe(true)
    })
  })
}))
