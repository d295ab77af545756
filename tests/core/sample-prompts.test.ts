// Pretraining sample prompts start and end on whole words (they were 8 raw tokens: "ver the riv").
import { describe, it, expect } from 'vitest'
import { wholeWordPrompt } from '../../core/train/samplePrompts'
import { Tokenizer, type TokenizerStyle } from '../../core/tokenizer'

/** A byte-level-style vocabulary: a leading space marks a word start. */
const PIECES = ['ver', ' the', ' riv', 'er', ' ran', ' thr', 'ough', ' the', ' old', ' town', ' and', ' in', 'to', ' the', ' sea']
const ids = PIECES.map((_, i) => i)
const decode = (xs: number[]) => xs.map((i) => PIECES[i]).join('')
/** SentencePiece-style decoding drops the first token's leading space. */
const decodeSp = (xs: number[]) => decode(xs).replace(/^ /, '')

describe('wholeWordPrompt', () => {
  it('skips the partial first word and ends where the next token starts a word', () => {
    // 4 tokens from " the": " the", " riv", "er", " ran", and the next token starts a word.
    expect(decode(wholeWordPrompt(ids, decode, 4))).toBe(' the river ran')
    // 5 tokens would end on " thr": extended to "through".
    expect(decode(wholeWordPrompt(ids, decode, 5))).toBe(' the river ran through')
  })

  it('works the same when decoding drops the leading space (SentencePiece)', () => {
    expect(decodeSp(wholeWordPrompt(ids, decodeSp, 5))).toBe('the river ran through')
  })

  it('falls back to the plain first tokens when the text has no word boundaries', () => {
    const glued = ['a', 'b', 'c', 'd', 'e', 'f']
    const dec = (xs: number[]) => xs.map((i) => glued[i]).join('')
    expect(wholeWordPrompt([0, 1, 2, 3, 4, 5], dec, 3)).toEqual([0, 1, 2])
  })

  it.each<TokenizerStyle>(['bytelevel', 'llama'])('with a trained %s tokenizer, prompts cut from anywhere in the text are whole words', (style) => {
    const text = Array.from({ length: 200 }, (_, i) => `the quiet river wanders through meadow number ${i % 13} towards a distant harbour`).join('\n')
    const tokenizer = Tokenizer.train([text], { vocabSize: 300, style })
    const all = tokenizer.encode(text)
    const words = new Set(text.split(/\s+/))
    for (let start = 0; start < 200; start += 7) {
      const prompt = tokenizer.decode(wholeWordPrompt(all.slice(start, start + 24), (xs) => tokenizer.decode(xs), 8)).trim()
      for (const word of prompt.split(/\s+/)) expect(words, `start ${start}: "${prompt}"`).toContain(word)
    }
  })
})
