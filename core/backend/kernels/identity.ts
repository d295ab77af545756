// A zero-copy Identity for the wasm backend. tfjs clones every tensor it saves for the backward
// pass (engine.saveTensorsForBackwardMode -> clone -> Identity), and the wasm Identity copies the
// whole buffer: 13% of a training step on the tiny model. Tensors are immutable (Variable.assign
// swaps in a new buffer rather than writing into the old one), so sharing the buffer with a
// reference count is safe; the cpu backend and wasm's own Reshape do exactly this.
import { tf } from '../tf'

interface WasmBackendLike {
  incRef(dataId: unknown): void
}

function identity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo
  if (x.dtype === 'string') throw new Error('Identity (wasm): string tensors are not supported')
  ;(args.backend as WasmBackendLike).incRef(x.dataId)
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
}

export function registerSharedIdentityWasm(): void {
  if (tf.getKernel('Identity', 'wasm')?.kernelFunc === (identity as unknown as tf.KernelFunc)) return
  if (tf.getKernel('Identity', 'wasm')) tf.unregisterKernel('Identity', 'wasm')
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: identity as unknown as tf.KernelFunc })
}
