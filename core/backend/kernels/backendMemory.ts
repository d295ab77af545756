// Where the wasm and cpu backends keep a tensor's floats, for kernels written in native code: one
// helper per backend hands the kernel body its inputs' memory and freshly allocated outputs, so a
// native kernel reads and writes in place (nativeMatMul.ts, nativeOps.ts).
import { tf } from '../tf'

/** A kernel's arguments as tfjs passes them. */
export type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }

/** Outputs allocated on a backend, then every tensor's memory handed to `body`; returns the outputs. */
export type WithMemory = (backend: unknown, inputs: tf.TensorInfo[], outShapes: number[][], body: (inputs: Float32Array[], outputs: Float32Array[]) => void) => tf.TensorInfo[]

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array
}

interface CpuBackendLike {
  data: { get(dataId: unknown): { values: Float32Array } }
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo
}

/** wasm: outputs on the wasm heap; views fetched after allocating, since growing the heap detaches older ones. */
export const withWasmMemory: WithMemory = (backend, inputs, outShapes, body) => {
  const wasm = backend as WasmBackendLike
  const outputs = outShapes.map((shape) => wasm.makeOutput(shape, 'float32'))
  body(inputs.map((t) => wasm.typedArrayFromHeap(t)), outputs.map((t) => wasm.typedArrayFromHeap(t)))
  return outputs
}

/** cpu: plain typed arrays become the outputs' data. */
export const withCpuMemory: WithMemory = (backend, inputs, outShapes, body) => {
  const cpu = backend as CpuBackendLike
  const arrays = outShapes.map((shape) => new Float32Array(tf.util.sizeFromShape(shape)))
  body(inputs.map((t) => cpu.data.get(t.dataId).values), arrays)
  return arrays.map((values, i) => cpu.makeTensorInfo(outShapes[i], 'float32', values))
}

/** The helper for a backend the native kernels serve. */
export function memoryOf(backendName: 'wasm' | 'cpu'): WithMemory {
  return backendName === 'wasm' ? withWasmMemory : withCpuMemory
}
