// WebGPU has no synchronous read of a tensor in Node (Dawn) and a broken one in Chromium's
// software adapter, so the training and RL paths must read with data() / array(). This runs a
// body with dataSync and arraySync made to throw, as they would fail there.
import { vi } from 'vitest'
import { tf } from '../core/backend/tf'

export async function withoutSyncReads<T>(body: () => Promise<T>): Promise<T> {
  const fail = (name: string) => () => {
    throw new Error(`${name}() was called: a GPU backend has no synchronous read`)
  }
  const spies = [
    vi.spyOn(tf.Tensor.prototype, 'dataSync').mockImplementation(fail('dataSync')),
    vi.spyOn(tf.Tensor.prototype, 'arraySync').mockImplementation(fail('arraySync')),
  ]
  try {
    return await body()
  } finally {
    for (const spy of spies) spy.mockRestore()
  }
}
