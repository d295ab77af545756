// The wasm backend has no UnsortedSegmentSum kernel, and tfjs uses it for the gradient of
// `tf.gather` (e.g. picking the last token's hidden state in a reward head). This is a plain
// JavaScript version for the wasm backend: it reads the inputs from the wasm heap, sums rows into
// their segments and writes the result straight into a fresh output buffer.
import { tf } from '../tf'

interface WasmBackendLike {
  readSync(dataId: unknown): ArrayLike<number>
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array
}

function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo
  const segmentIds = args.inputs.segmentIds as tf.TensorInfo
  const numSegments = args.attrs?.numSegments as number
  const backend = args.backend as WasmBackendLike
  if (segmentIds.shape.length !== 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(`UnsortedSegmentSum (wasm): segmentIds must be 1-D with ${x.shape[0]} entries, got shape [${segmentIds.shape}]`)
  }
  const rows = x.shape[0]
  const rowSize = rows === 0 ? 0 : tf.util.sizeFromShape(x.shape) / rows
  const values = backend.readSync(x.dataId)
  const ids = backend.readSync(segmentIds.dataId)
  const out = backend.makeOutput([numSegments, ...x.shape.slice(1)], x.dtype)
  const outValues = backend.typedArrayFromHeap(out)
  outValues.fill(0)
  for (let r = 0; r < rows; r++) {
    const segment = ids[r]
    if (segment < 0 || segment >= numSegments) continue // same as TensorFlow: out-of-range ids are dropped
    const src = r * rowSize
    const dst = segment * rowSize
    for (let i = 0; i < rowSize; i++) outValues[dst + i] += values[src + i]
  }
  return out
}

export function registerUnsortedSegmentSumWasm(): void {
  if (tf.getKernel('UnsortedSegmentSum', 'wasm')) return
  tf.registerKernel({ kernelName: 'UnsortedSegmentSum', backendName: 'wasm', kernelFunc: unsortedSegmentSum as unknown as tf.KernelFunc })
}
