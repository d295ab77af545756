// Which way the model's matmuls go on the current backend. On wasm without the native matmul, only
// 2-D matmuls without transpose flags are fast (XNNPACK), so model/kernels/linear.ts and
// batchMatMul.ts transpose explicitly and split batches. The native matmul and the WebGPU backend
// run transpose flags and batches at full speed, and there the explicit transposes would only add
// copies (on a GPU, one extra shader pass and buffer per weight): tfjs's own matMul and gradients
// are best.
import { tf } from './tf'
import { nativeMatMulActive } from './kernels/nativeMatMul'

export function flaggedMatMulIsFast(): boolean {
  return nativeMatMulActive() || tf.getBackend() === 'webgpu'
}
