import { describe, expect, it } from 'vitest'
import { BatchIterator, packWindows, seededPermutation, sequentialBatches, sftSource, windowSource, type Batch, type SftExample } from '../../core/data'

const stream = Int32Array.from({ length: 81 }, (_, i) => 100 + i)
const { train } = packWindows(stream, 8, 0) // 10 windows, one held out -> 9 train windows
const rows = (b: Batch, key: 'tokens' | 'targets' | 'mask') => Array.from({ length: b.batchSize }, (_, r) => [...b[key].subarray(r * b.seqLen, (r + 1) * b.seqLen)])

describe('pretraining batches', () => {
  it('gives [B, T] inputs, targets shifted by one, mask 1', () => {
    const it_ = new BatchIterator(windowSource(train), { batchSize: 2, seed: 1, shuffle: false })
    const b = it_.next()
    expect([b.batchSize, b.seqLen, b.tokens.length]).toEqual([2, 8, 16])
    expect(rows(b, 'tokens')[0]).toEqual([100, 101, 102, 103, 104, 105, 106, 107])
    expect(rows(b, 'targets')[0]).toEqual([101, 102, 103, 104, 105, 106, 107, 108])
    expect(rows(b, 'tokens')[1][0]).toBe(108)
    expect([...b.mask].every((m) => m === 1)).toBe(true)
  })

  it('shuffles per epoch with the seed, and every window appears once per epoch', () => {
    const firstEpoch = (seed: number, epochs = 1) => {
      const it_ = new BatchIterator(windowSource(train), { batchSize: 3, seed })
      const starts: number[][] = []
      for (let e = 0; e < epochs; e++) {
        const seen: number[] = []
        for (let i = 0; i < it_.batchesPerEpoch; i++) seen.push(...rows(it_.next(), 'tokens').map((r) => r[0]))
        starts.push(seen)
      }
      return starts
    }
    const [a0, a1] = firstEpoch(7, 2)
    expect([...a0].sort()).toEqual([...train.starts].map((s) => 100 + s).sort())
    expect(a1).not.toEqual(a0)
    expect(firstEpoch(7, 2)).toEqual([a0, a1])
    expect(firstEpoch(8)[0]).not.toEqual(a0)
  })

  it('resumes from a cursor with exactly the same batches', () => {
    const run = new BatchIterator(windowSource(train), { batchSize: 2, seed: 3 })
    const all: Batch[] = []
    let saved = run.cursor
    for (let i = 0; i < 12; i++) {
      if (i === 7) saved = JSON.parse(JSON.stringify(run.cursor))
      all.push(run.next())
    }
    expect(saved).toEqual({ epoch: 1, index: 2 }) // 5 batches per epoch
    const resumed = new BatchIterator(windowSource(train), { batchSize: 2, seed: 3, cursor: saved })
    for (let i = 7; i < 12; i++) expect(resumed.next()).toEqual(all[i])
  })

  it('fills the last batch of an epoch by wrapping, so batches are always full', () => {
    const it_ = new BatchIterator(windowSource(train), { batchSize: 4, seed: 0, shuffle: false })
    expect(it_.batchesPerEpoch).toBe(3)
    it_.next()
    it_.next()
    const last = it_.next()
    expect(last.batchSize).toBe(4)
    expect(rows(last, 'tokens').map((r) => r[0])).toEqual([100 + train.starts[8], 100 + train.starts[0], 100 + train.starts[1], 100 + train.starts[2]])
    expect(it_.cursor).toEqual({ epoch: 1, index: 0 })
  })

  it('rejects a bad cursor and batch size', () => {
    expect(() => new BatchIterator(windowSource(train), { batchSize: 2, seed: 0, cursor: { epoch: 0, index: 5 } })).toThrow(/cursor .* is outside the data \(5 batches per epoch\)/)
    expect(() => new BatchIterator(windowSource(train), { batchSize: 0, seed: 0 })).toThrow(/batch_size must be a positive integer/)
  })

  it('sequential batches cover every window once, in order', () => {
    const batches = [...sequentialBatches(windowSource(train), 4)]
    expect(batches.map((b) => b.batchSize)).toEqual([4, 4, 1])
  })

  it('seeded permutations are permutations', () => {
    const p = [...seededPermutation(50, 11, 0)]
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i))
  })
})

describe('SFT batches', () => {
  const PAD = 3
  const ex = (tokens: number[], mask: number[]): SftExample => ({ tokens: Int32Array.from(tokens), lossMask: Uint8Array.from(mask), source: 'test' })
  // <s>=1 <|user|>=5 "a"=20 <|end|>=7 <|assistant|>=6 "b"=21 <|end|>=7 </s>=2
  const example = ex([1, 5, 20, 7, 6, 21, 7, 2], [0, 0, 0, 0, 0, 1, 1, 0])

  it('right-pads with PAD, mask 0 on padding and prompt, mask shifted to targets', () => {
    const it_ = new BatchIterator(sftSource([example], 10, PAD), { batchSize: 1, seed: 0 })
    const b = it_.next()
    expect([...b.tokens]).toEqual([1, 5, 20, 7, 6, 21, 7, PAD, PAD, PAD])
    expect([...b.targets]).toEqual([5, 20, 7, 6, 21, 7, 2, PAD, PAD, PAD])
    expect([...b.mask]).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
  })

  it('an example of exactly seq_len + 1 tokens fills the row; longer is an error', () => {
    const b = new BatchIterator(sftSource([example], 7, PAD), { batchSize: 1, seed: 0 }).next()
    expect([...b.tokens]).toEqual([1, 5, 20, 7, 6, 21, 7])
    expect(() => sftSource([example], 6, PAD)).toThrow(/has 8 tokens, more than seq_len \+ 1 = 7/)
  })
})
