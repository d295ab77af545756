// Fused native kernels (native/fastgemm) for the wasm and cpu backends, each a forward and a
// backward kernel registered under our own names, work split across the native thread pool:
//   RMSNorm with its scale (rmsNorm, rmsNormGrad): one pass over the rows where tfjs makes six
//     (square, mean, add, rsqrt, two multiplies);
//   the SwiGLU gate silu(g) * u (swiglu, swigluGrad): one pass where tfjs makes three forward and
//     about eight backward.
// core/model/kernels/rmsNorm.ts and swiglu.ts call them (with hand-written gradients) when they
// are registered for the current backend and fall back to the tfjs formulation otherwise.
import { tf } from '../tf'
import { loadFastGemm } from './nativeMatMul'
import { memoryOf, type KernelArgs } from './backendMemory'

export const RMS_NORM = 'WorkbenchRmsNorm'
export const RMS_NORM_GRAD = 'WorkbenchRmsNormGrad'
export const SWIGLU = 'WorkbenchSwiglu'
export const SWIGLU_GRAD = 'WorkbenchSwigluGrad'

interface OpsAddon {
  rmsNorm(x: Float32Array, w: Float32Array, y: Float32Array, rows: number, d: number, eps: number): void
  rmsNormGrad(x: Float32Array, w: Float32Array, dy: Float32Array, dx: Float32Array, dw: Float32Array, rows: number, d: number, eps: number): void
  swiglu(g: Float32Array, u: Float32Array, h: Float32Array, n: number): void
  swigluGrad(g: Float32Array, u: Float32Array, dh: Float32Array, dg: Float32Array, du: Float32Array, n: number): void
}

/** [rows, d] of a 2-D float32 x and its [d] weight, or an error naming the problem. */
function normShape(x: tf.TensorInfo, weight: tf.TensorInfo): [number, number] {
  if (x.shape.length !== 2 || weight.shape.length !== 1 || weight.shape[0] !== x.shape[1] || x.dtype !== 'float32' || weight.dtype !== 'float32') {
    throw new Error(`${RMS_NORM}: expects float32 x [N, D] and weight [D], got x ${x.dtype} [${x.shape}] and weight ${weight.dtype} [${weight.shape}]`)
  }
  return [x.shape[0], x.shape[1]]
}

const registered = new Set<string>()

/** [g, u]'s element count: two float32 tensors of one shape. */
function gateSize(g: tf.TensorInfo, u: tf.TensorInfo): number {
  if (g.dtype !== 'float32' || u.dtype !== 'float32' || g.shape.join(',') !== u.shape.join(',')) {
    throw new Error(`${SWIGLU}: expects float32 g and u of one shape, got g ${g.dtype} [${g.shape}] and u ${u.dtype} [${u.shape}]`)
  }
  return tf.util.sizeFromShape(g.shape)
}

/** True when the fused native kernels serve the current backend. */
export function nativeOpsActive(): boolean {
  return registered.has(tf.getBackend())
}

/** Registers the fused kernels for `backendName`; false (nothing changes) without the addon or with one built before them. */
export function registerNativeOps(backendName: 'wasm' | 'cpu'): boolean {
  const addon = loadFastGemm() as unknown as Partial<OpsAddon> | null
  const names: (keyof OpsAddon)[] = ['rmsNorm', 'rmsNormGrad', 'swiglu', 'swigluGrad']
  if (!addon || names.some((name) => typeof addon[name] !== 'function')) return false
  const native = addon as OpsAddon
  if (registered.has(backendName)) return true
  const withMemory = memoryOf(backendName)
  tf.registerKernel({
    kernelName: RMS_NORM,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { x, weight } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo }
      const [rows, d] = normShape(x, weight)
      const eps = Number(attrs?.eps)
      return withMemory(backend, [x, weight], [[rows, d]], ([xs, ws], [y]) => native.rmsNorm(xs, ws, y, rows, d, eps))[0]
    }) as unknown as tf.KernelFunc,
  })
  tf.registerKernel({
    kernelName: RMS_NORM_GRAD,
    backendName,
    kernelFunc: (({ inputs, backend, attrs }: KernelArgs) => {
      const { x, weight, dy } = inputs as { x: tf.TensorInfo; weight: tf.TensorInfo; dy: tf.TensorInfo }
      const [rows, d] = normShape(x, weight)
      const eps = Number(attrs?.eps)
      return withMemory(backend, [x, weight, dy], [[rows, d], [d]], ([xs, ws, dys], [dx, dw]) => native.rmsNormGrad(xs, ws, dys, dx, dw, rows, d, eps))
    }) as unknown as tf.KernelFunc,
  })
  tf.registerKernel({
    kernelName: SWIGLU,
    backendName,
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const { g, u } = inputs as { g: tf.TensorInfo; u: tf.TensorInfo }
      const n = gateSize(g, u)
      return withMemory(backend, [g, u], [g.shape], ([gs, us], [h]) => native.swiglu(gs, us, h, n))[0]
    }) as unknown as tf.KernelFunc,
  })
  tf.registerKernel({
    kernelName: SWIGLU_GRAD,
    backendName,
    kernelFunc: (({ inputs, backend }: KernelArgs) => {
      const { g, u, dh } = inputs as { g: tf.TensorInfo; u: tf.TensorInfo; dh: tf.TensorInfo }
      const n = gateSize(g, u)
      return withMemory(backend, [g, u, dh], [g.shape, g.shape], ([gs, us, dhs], [dg, du]) => native.swigluGrad(gs, us, dhs, dg, du, n))
    }) as unknown as tf.KernelFunc,
  })
  registered.add(backendName)
  return true
}
