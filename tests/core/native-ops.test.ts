// The fused native kernels (core/model/kernels/rmsNorm.ts and swiglu.ts over native/fastgemm)
// against the tfjs formulations they replace: values and both gradients, on the two backends they
// serve, and the same result whatever the native thread count. Needs the addon (tests/references.ts).
import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'
import { nativeOpsActive } from '../../core/backend/kernels/nativeOps'
import { rmsNorm, rmsNormFused, rmsNormTfjs } from '../../core/model/kernels/rmsNorm'
import { swigluGate, swigluGateFused, swigluGateTfjs } from '../../core/model/kernels/swiglu'
import { mulberry32 } from '../../core/util/random'
import { describeWith } from '../references'

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

  it('gives the same values and dx at 1 and 3 native threads, and dweight within 1e-6', () => {
    const gemm = loadFastGemm()!
    const before = gemm.threads()
    const [n, d] = [512, 256]
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
