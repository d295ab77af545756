// A thin typed wrapper over tf.customGrad, whose function type takes `...Array<Tensor | GradSaveFunc>`:
// each op here receives its inputs as an array plus tfjs's save function, and returns the value and
// the gradient function (one gradient per input).
import { tf } from '../../backend/tf'

export type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[]
export type OpBody = (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc }

export function customOp(body: OpBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc
    // The forward pass runs in its own tidy so its temporaries (unstacked parts, transposed
    // weights, products) are freed at once instead of living until the end of the training step;
    // what the gradient needs survives through save(), which keeps its own copies.
    let gradFunc: GradFunc | undefined
    const value = tf.tidy(() => {
      const result = body(args.slice(0, -1) as tf.Tensor[], save)
      gradFunc = result.gradFunc
      return result.value
    })
    return { value, gradFunc: gradFunc! }
  })
  return (...inputs: tf.Tensor[]) => op(...inputs)
}
