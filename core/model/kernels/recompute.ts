// Activation recomputation (gradient checkpointing, Chen et al. 2016) for one block of layers.
//
// Why: tfjs keeps every tensor a kernel saves for its gradient, and every intermediate gradient,
// until the whole backward pass ends, so a training step's peak is about twice the forward pass's
// activations. Wrapped here, a block keeps only its input (and the small `context` tensors it
// reads) through the forward pass; in the backward pass it runs its forward again under a tape of
// its own and takes its gradients there, so one block's activations are alive at a time.
// The price is a second forward pass of the block. The block must compute the same values both
// times (the caller replays any randomness, e.g. dropout seeds).
import { tf } from '../../backend/tf'
import { customOp } from './customOp'

/** The engine field a nested gradient computation overwrites (tfjs-core's Engine; not in its public types). */
interface EngineTape {
  state: { activeTape: unknown }
}

/**
 * `block(x, context)` [N, D] -> [N, D'], whose gradient flows to x and to `trained` (variables the
 * block reads) only: every other tensor it reads is a constant (a frozen trunk's weights).
 * `context`: tensors the block reads that the caller frees after the forward pass (positions, masks):
 * they are kept for the recomputation.
 */
export function recomputed(
  block: (x: tf.Tensor2D, context: tf.Tensor[]) => tf.Tensor2D,
  x: tf.Tensor2D,
  context: tf.Tensor[],
  trained: tf.Variable[],
): tf.Tensor2D {
  const op = customOp(([xIn], save) => {
    save([xIn, ...context])
    // Inside a custom op the tape is off: the block's temporaries are freed when it returns.
    const value = block(xIn as tf.Tensor2D, context)
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xSaved, ...contextSaved] = saved
      return gradientsOnOwnTape(() => block(xSaved as tf.Tensor2D, contextSaved), [xSaved, ...trained], dy)
    }
    return { value, gradFunc }
  })
  return op(x, ...trained) as tf.Tensor2D
}

/**
 * d(sum(f() * dy)) / d(xs), computed while the outer backward pass is running. tfjs's gradients()
 * at depth 0 starts a fresh tape and clears the engine's tape reference when done, which would
 * lose the outer pass's tape (whose saved tensors it frees at its end): it is put back.
 */
function gradientsOnOwnTape(f: () => tf.Tensor, xs: tf.Tensor[], dy: tf.Tensor): tf.Tensor[] {
  const engine = tf.engine() as unknown as EngineTape
  const outerTape = engine.state.activeTape
  try {
    const { value, grads } = tf.engine().gradients(f, xs, dy)
    value.dispose()
    return grads
  } finally {
    engine.state.activeTape = outerTape
  }
}
