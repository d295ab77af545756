// Scalar heads find the last real token from the attention mask, not from a pad id: with GPT-2
// style tokenizers the pad id is also BOS and EOS, so "the first pad" is the first token.
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { ScalarHead, lastTokenIndices, rightPaddedMask } from '../../core/model/heads'
import { Llama } from '../../core/model/llama'

const EOT = 9 // one id for BOS, EOS and PAD, as GPT-2's <|endoftext|>

beforeAll(async () => {
  await initBackend('cpu')
})

describe('lastTokenIndices', () => {
  it('finds the last real token when pad == bos == eos, right-padded', () => {
    const mask = [
      [1, 1, 1, 1, 0, 0], // EOT a b EOT pad pad
      [1, 1, 1, 1, 1, 1],
      [1, 0, 0, 0, 0, 0],
    ]
    expect(lastTokenIndices(mask)).toEqual([3, 5, 0])
  })

  it('finds the last real token with left padding', () => {
    expect(lastTokenIndices([[0, 0, 1, 1, 1], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]])).toEqual([4, 4, 4])
  })

  it('names the row that has no real token', () => {
    expect(() => lastTokenIndices([[1, 1], [0, 0]])).toThrow('lastTokenIndices: row 1 of the attention mask has no real token (all 0)')
  })

  it('builds right-padded masks from lengths and refuses impossible lengths', () => {
    expect(rightPaddedMask([1, 3], 3)).toEqual([[1, 0, 0], [1, 1, 1]])
    expect(() => rightPaddedMask([4], 3)).toThrow('rightPaddedMask: row 0 has length 4, outside 1..3')
  })
})

describe('ScalarHead.score', () => {
  it('scores a row of bos/eos/pad-equal ids at its last real token, unchanged by trailing padding', () => {
    const model = Llama.create({ vocab_size: 16, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 16 }, 3)
    const head = ScalarHead.create('reward', 32, 4)
    const rows = [[EOT, 3, 4, EOT, EOT, EOT], [EOT, 5, 6, 7, 8, EOT]]
    const scores = head.score(model, rows, rightPaddedMask([4, 6], 6)).dataSync()
    const alone = head.score(model, [[EOT, 3, 4, EOT]], [[1, 1, 1, 1]]).dataSync()
    expect(Math.abs(scores[0] - alone[0])).toBeLessThan(1e-5)
    // Scoring the pad position instead would give another value: the index matters.
    const atPad = tf.tidy(() => head.atPositions(model.hidden(tf.tensor2d(rows, [2, 6], 'int32')), [5, 5]).dataSync())
    expect(Math.abs(atPad[0] - scores[0])).toBeGreaterThan(1e-6)
    expect(() => head.score(model, rows, [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])).toThrow(/row 0 is not right-padded/)
    head.dispose()
    model.dispose()
  })
})
