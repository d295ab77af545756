// The model bench's figures (bench/model.ts): a row's step time is the median of its measured
// steps (a few slow steps on a shared machine must not move it), and the second core's ratio is
// printed per case and thread mode beside the table, with the kernel row's in-process alternation.
import { describe, expect, it } from 'vitest'
import { median, secondCoreLines } from '../../bench/model'

describe('model bench figures', () => {
  it('takes the median step, not the mean', () => {
    expect(median([100, 101, 400])).toBe(101)
    expect(median([100, 104, 400, 90])).toBe(102)
    expect(median([7])).toBe(7)
  })

  it('prints what the threads beyond the first add, per case, backend and mode', () => {
    const row = { preset: 'tiny' as const, seq: 128, backend: 'wasm', stepsMeasured: 20, alternatingSpeedup: null, alternatingPairs: 0 }
    const lines = secondCoreLines([
      { ...row, threads: 1, threadMode: 'kernel', trainTokensPerSec: 10_000 },
      { ...row, threads: 2, threadMode: 'kernel', trainTokensPerSec: 17_000, alternatingSpeedup: 1.82, alternatingPairs: 12 },
      { ...row, threads: 2, threadMode: 'workers', trainTokensPerSec: 14_000 },
      { ...row, seq: 1024, threads: 1, threadMode: 'kernel', trainTokensPerSec: 5_000 }, // no 2-thread row: no line
    ])
    expect(lines).toEqual(['tiny seq 128 wasm: 1.70x on 2 threads (kernel), 1.40x on 2 threads (workers) over 1 thread (median steps of 20 / 20 / 20 measured); alternating 1 and 2 threads step by step in one process: 1.82x (12 pairs)'])
  })
})
