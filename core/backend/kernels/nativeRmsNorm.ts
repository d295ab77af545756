// RMSNorm with its scale as two native kernels (native/fastgemm: rmsNorm, rmsNormGrad), for the
// wasm and cpu backends: one pass over the rows where tfjs makes six (square, mean, add, rsqrt,
// two multiplies), rows split across the native thread pool. Registered under our own kernel
// names; core/model/kernels/rmsNorm.ts calls them (with a hand-written gradient) when they are
// registered for the current backend and falls back to the tfjs formulation otherwise.
import { tf } from '../tf'
import { loadFastGemm } from './nativeMatMul'

export const RMS_NORM = 'WorkbenchRmsNorm'
export const RMS_NORM_GRAD = 'WorkbenchRmsNormGrad'

interface NormAddon {
  rmsNorm(x: Float32Array, w: Float32Array, y: Float32Array, rows: number, d: number, eps: number): void
  rmsNormGrad(x: Float32Array, w: Float32Array, dy: Float32Array, dx: Float32Array, dw: Float32Array, rows: number, d: number, eps: number): void
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }

/** Outputs allocated on a backend, then every tensor's memory (read after all allocations). */
type WithMemory = (backend: unknown, inputs: tf.TensorInfo[], outShapes: number[][], body: (inputs: Float32Array[], outputs: Float32Array[]) => void) => tf.TensorInfo[]

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values: Float32Array } }
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo
}

/** wasm: outputs on the wasm heap; views fetched after allocating, since growing the heap detaches older ones. */
const withWasmMemory: WithMemory = (backend, inputs, outShapes, body) => {
  const wasm = backend as WasmBackendLike
  const outputs = outShapes.map((shape) => wasm.makeOutput(shape, 'float32'))
  body(inputs.map((t) => wasm.typedArrayFromHeap(t)), outputs.map((t) => wasm.typedArrayFromHeap(t)))
  return outputs
}

/** cpu: plain typed arrays become the outputs' data. */
const withCpuMemory: WithMemory = (backend, inputs, outShapes, body) => {
  const cpu = backend as CpuBackendLike
  const arrays = outShapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)))
  body(inputs.map((t) => cpu.data.get(t.dataId).values), arrays)
  return arrays.map((values, i) => cpu.makeTensorInfo(outShapes[i], 'float32', values))
}

/** [rows, d] of a 2-D float32 x and its [d] weight, or an error naming the problem. */
function normShape(x: tf.TensorInfo, weight: tf.TensorInfo): [number, number] {
  if (x.shape.length !== 2 || weight.shape.length !== 1 || weight.shape[0] !== x.shape[1] || x.dtype !== 'float32' || weight.dtype !== 'float32') {
    throw new Error(`${RMS_NORM}: expects float32 x [N, D] and weight [D], got x ${x.dtype} [${x.shape}] and weight ${weight.dtype} [${weight.shape}]`)
  }
  return [x.shape[0], x.shape[1]]
}

const registered = new Set<string>()

/** True when the fused RMSNorm kernels serve the current backend. */
export function nativeRmsNormActive(): boolean {
  return registered.has(tf.getBackend())
}

/** Registers the fused RMSNorm kernels for `backendName`; false (nothing changes) without the addon or an addon built before them. */
export function registerNativeRmsNorm(backendName: 'wasm' | 'cpu'): boolean {
  const addon = loadFastGemm() as unknown as Partial<NormAddon> | null
  if (!addon || typeof addon.rmsNorm !== 'function' || typeof addon.rmsNormGrad !== 'function') return false
  const native = addon as NormAddon
  if (registered.has(backendName)) return true
  const withMemory = backendName === 'wasm' ? withWasmMemory : withCpuMemory
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
  registered.add(backendName)
  return true
}
