// A thin typed wrapper over tf.customGrad, whose function type takes `...Array<Tensor | GradSaveFunc>`:
// each op here receives its inputs as an array plus tfjs's save function, and returns the value and
// the gradient function (one gradient per input).
import { tf } from '../../backend/tf'

export type GradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[]
export type OpBody = (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradFunc }

export function customOp(body: OpBody): (...inputs: tf.Tensor[]) => tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc
    return body(args.slice(0, -1) as tf.Tensor[], save)
  })
  return (...inputs: tf.Tensor[]) => op(...inputs)
}
