// Tensor memory as buffers, not tensors: the bytes of the distinct tensor buffers that are alive,
// and the highest that figure reached.
//
// Why not tf.memory().numBytes (or tf.profile's peakBytes, taken from it)? It adds a tensor's size
// once per tensor object, and tfjs makes many objects that share one buffer: every reshape, every
// tensor a kernel saves for its gradient (a clone), every variable over its initial tensor. In a
// training step that counts most activations twice. The meter hooks the engine where a buffer is
// first tracked and where it is released, so a shared buffer counts once.
import { tf } from './tf'

interface TensorInfoEntry {
  bytes: number
}

/** The engine members the meter wraps (tfjs-core's Engine; not in its public types). */
interface EngineInternals {
  state: { tensorInfo: WeakMap<object, TensorInfoEntry> }
  trackTensor(a: tf.Tensor, backend: unknown): void
  removeDataId(dataId: object, backend: unknown): void
}

export class BufferMeter {
  /** Bytes of the buffers allocated since `start` and still alive. */
  liveBytes = 0
  /** The highest `liveBytes` since `start` or the last `resetPeak`. */
  peakBytes = 0
  private readonly counted = new WeakMap<object, number>()
  private restore: (() => void) | null = null

  /** Starts counting buffers allocated from now on (earlier ones are not counted, nor their release). */
  start(): this {
    if (this.restore) return this
    const engine = tf.engine() as unknown as EngineInternals
    const info = engine.state.tensorInfo
    const track = engine.trackTensor
    const remove = engine.removeDataId
    engine.trackTensor = (a, backend) => {
      const fresh = !info.has(a.dataId)
      track.call(engine, a, backend)
      const entry = info.get(a.dataId)
      if (fresh && entry) {
        this.counted.set(a.dataId, entry.bytes)
        this.liveBytes += entry.bytes
        this.peakBytes = Math.max(this.peakBytes, this.liveBytes)
      }
    }
    engine.removeDataId = (dataId, backend) => {
      remove.call(engine, dataId, backend)
      const bytes = this.counted.get(dataId)
      if (bytes !== undefined && !info.has(dataId)) {
        this.counted.delete(dataId)
        this.liveBytes -= bytes
      }
    }
    this.restore = () => {
      engine.trackTensor = track
      engine.removeDataId = remove
    }
    return this
  }

  /** The peak starts again from what is alive now. */
  resetPeak(): void {
    this.peakBytes = this.liveBytes
  }

  stop(): void {
    this.restore?.()
    this.restore = null
  }
}
