// One Llama transformer block for training as ONE op each way: the native addon's blockForward
// and blockBackward (native/fastgemm, "One Llama transformer block") run the same kernels the
// tfjs path runs for the block (the matmuls, fused RMSNorm, RoPE, attention, SwiGLU, the adds)
// in the same order, so the values and gradients are bitwise the same. What goes is tfjs's work
// around each of the ~80 kernels a layer makes per step (engine bookkeeping, the gradient tape, a
// clone per saved tensor), spent on the main thread while the other cores wait: on the tiny preset
// a step is 6-10% faster (docs/architecture.md, "CPU training speed").
import { tf } from '../../backend/tf'
import { BLOCK, BLOCK_GRAD, BLOCK_INPUTS, nativeBlockActive } from '../../backend/kernels/nativeOps'
import { customOp } from './customOp'

/** The block's parameters as the model holds them (weights [out, in]). */
export interface BlockParameters {
  normIn: tf.Tensor1D
  wq: tf.Tensor2D
  wk: tf.Tensor2D
  wv: tf.Tensor2D
  wo: tf.Tensor2D
  normPost: tf.Tensor1D
  w1: tf.Tensor2D
  w3: tf.Tensor2D
  w2: tf.Tensor2D
}

export interface BlockShape {
  seq: number
  heads: number
  kvHeads: number
  eps: number
}

/** True when a training block can run as one native op each way (WORKBENCH_FUSED_BLOCK=0 turns it off, to compare). */
export function fusedBlockActive(): boolean {
  return nativeBlockActive() && process.env.WORKBENCH_FUSED_BLOCK !== '0'
}

/**
 * x + attention(rmsnorm(x)), then + swiglu(rmsnorm(.)): one block over x [B*T, D] from position 0,
 * causal, no cache or padding. cos, sin: [1 or B, T, 1, hd] (constants: no gradient).
 */
export function transformerBlockFused(x: tf.Tensor2D, params: BlockParameters, cos: tf.Tensor4D, sin: tf.Tensor4D, shape: BlockShape): tf.Tensor2D {
  const names = BLOCK_INPUTS.slice(1, 10) as (keyof BlockParameters)[]
  // A frozen weight (a variable not trainable: LoRA's trunk) needs no gradient: a bit per parameter,
  // and blockBackward skips a frozen projection's dW (its gradient reads as zeros).
  const frozen = names.reduce((bits, name, i) => (params[name] instanceof tf.Variable && !params[name].trainable ? bits | (1 << i) : bits), 0)
  const op = customOp((inputs, save) => {
    const byName = (tensors: tf.Tensor[]) => Object.fromEntries([...BLOCK_INPUTS.slice(0, 10), 'cos', 'sin'].map((name, i) => [name, tensors[i]]))
    const blockInputs = byName([...inputs, cos, sin])
    // y [B*T, D], and what the backward needs as one flat tensor (one clone for tfjs to save).
    const [y, kept] = tf.engine().runKernel(BLOCK, blockInputs, { ...shape }) as tf.Tensor[]
    save([...inputs, cos, sin, kept])
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const gradInputs = { ...byName(saved.slice(0, 12)), saved: saved[12], dy }
      return tf.engine().runKernel(BLOCK_GRAD, gradInputs, { ...shape, frozen }) as tf.Tensor[] // dx, then each parameter's gradient
    }
    return { value: y, gradFunc }
  })
  return op(x, ...names.map((name) => params[name])) as tf.Tensor2D
}
