// The Llama 2 tokenizer style: trained here, saved as tokenizer.json and as a SentencePiece
// tokenizer.model, and checked by the real consumers: @huggingface/tokenizers reads the .json,
// Python's sentencepiece (Debian's python3-sentencepiece; required in CI) loads the .model; both
// must give our ids. And a tokenizer.model is read back by our own protobuf reader.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers'
import { afterAll, describe, expect, it } from 'vitest'
import { Tokenizer } from '../../core/tokenizer'
import { mergesFromScores, PIECE_TYPE, readSentencePieceModel, writeSentencePieceModel } from '../../core/tokenizer/sentencepiece'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-tok-llama-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const corpus = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.',
  'In 2023 the model saw 1234567 tokens and 42 documents.\n\nNew paragraph:\ttabs   and  spaces.',
  'Les élèves étudient à l’école. 日本語のテキストも少し。 Emoji 🎉🚀 too.',
  'def encode(text):\n    return [ord(c) for c in text]\n',
  'the theme of the thesis: then, there, these, them, they, their.',
].flatMap((t) => [t, t.toUpperCase(), t.split(' ').reverse().join(' ')])

const tok = Tokenizer.train(corpus, { vocabSize: 500, style: 'llama' })

const STRINGS = [
  'The quick brown fox', ' leading space', 'trailing space ', '  two  spaces  ', 'hello world', 'tabs\tand\nnewlines\r\n',
  'numbers 3.14159 and 1,000,000', 'year 2023!', 'CJK 日本語 中文 한국어', 'emoji 🎉 🦙 👨‍👩‍👧', 'é vs e\u0301', 'nbsp\u00a0here',
  'NEL\u0085here', 'BOM\ufeffhere', 'control \u0007 byte', 'the theme thesis', 'THE THEME', "it's we're", 'a', '', ' ', '\n\n\n',
  '<s> and </s> as text', 'x<|user|>y', '▁ already a marker', 'def f(x):\n    return x * 2\n', 'Ωμέγα ✓ ∑', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
]

describe('Llama-style training', () => {
  it('lays out ids as Llama 2: <unk> <s> </s> at 0..2, <0x00>..<0xFF> at 3..258, then pad and chat tokens', () => {
    expect(tok.style).toBe('llama')
    expect(tok.special).toEqual({ unk: 0, bos: 1, eos: 2, pad: 259, system: 260, user: 261, assistant: 262, end_of_turn: 263 })
    for (const b of [0, 10, 0x41, 0xff]) expect(tok.idToToken(b + 3)).toBe(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)
    expect(tok.vocabSize).toBeGreaterThan(400)
  })

  it('marks words with "▁", splits digits and falls back to bytes for unseen characters', () => {
    const pieces = (s: string) => tok.encode(s).map((id) => tok.idToToken(id))
    expect(pieces('the fox')[0]?.startsWith('▁')).toBe(true)
    expect(pieces('2023')).toEqual(['▁', '2', '0', '2', '3'])
    expect(pieces('🦙')).toEqual(['▁', '<0xF0>', '<0x9F>', '<0xA6>', '<0x99>'])
  })

  // A "▁" typed in the text decodes as a space: SentencePiece's own behaviour (Llama 2's too).
  it.each(STRINGS.filter((s) => !s.includes('▁')))('round-trips %j', (s) => {
    expect(tok.decode(tok.encode(s))).toBe(s)
  })

  it('is deterministic', () => {
    expect(Tokenizer.train(corpus, { vocabSize: 500, style: 'llama' }).hash()).toBe(tok.hash())
  })

  it('rejects an unknown style', () => {
    expect(() => Tokenizer.train(corpus, { vocabSize: 500, style: 'wordpiece' as never })).toThrow(/style must be one of bytelevel, llama/)
  })
})

describe('Llama-style tokenizer.json read by @huggingface/tokenizers', () => {
  it('gives our ids on every test string (special-token text parsed, as Hugging Face does)', () => {
    const hf = new HfTokenizer(tok.toJSON() as never, {})
    for (const s of STRINGS) expect([s, hf.encode(s, { add_special_tokens: false }).ids]).toEqual([s, tok.encode(s, { specialTokens: 'parse' })])
  })
})

describe('tokenizer.model (SentencePiece)', () => {
  const file = path.join(root, 'tokenizer.model')
  tok.saveSentencePiece(file)

  it('reads back with our reader: pieces, types, byte fallback, BPE', () => {
    const model = readSentencePieceModel(new Uint8Array(fs.readFileSync(file)))
    expect(model.pieces.length).toBe(tok.vocabSize)
    expect(model.modelType).toBe(2)
    expect(model.byteFallback).toBe(true)
    expect(model.addDummyPrefix).toBe(true)
    expect(model.removeExtraWhitespaces).toBe(false)
    expect([model.unkId, model.bosId, model.eosId, model.padId]).toEqual([0, 1, 2, 259])
    expect(model.pieces[0]).toEqual({ piece: '<unk>', score: 0, type: PIECE_TYPE.UNKNOWN })
    expect(model.pieces[1].type).toBe(PIECE_TYPE.CONTROL)
    expect(model.pieces[3 + 0x41]).toEqual({ piece: '<0x41>', score: 0, type: PIECE_TYPE.BYTE })
    expect(model.pieces[261]).toEqual({ piece: '<|user|>', score: 0, type: PIECE_TYPE.CONTROL })
    expect(model.pieces[264].type).toBe(PIECE_TYPE.NORMAL)
    // Writing what we read gives the same bytes.
    expect(Buffer.from(writeSentencePieceModel(model)).equals(fs.readFileSync(file))).toBe(true)
  })

  it('loads back as the same tokenizer (Tokenizer.load of a .model, or of a folder with only that file)', () => {
    expect(Tokenizer.load(file).hash()).toBe(tok.hash())
    expect(Tokenizer.load(root).hash()).toBe(tok.hash())
  })

  it('merges recovered from scores rank longer left parts first on equal scores, as transformers does', () => {
    const piece = (p: string, score: number) => ({ piece: p, score, type: PIECE_TYPE.NORMAL })
    const merges = mergesFromScores([piece('a', 0), piece('b', 0), piece('c', 0), piece('ab', -1), piece('bc', -2), piece('abc', -3)])
    expect(merges).toEqual([['a', 'b'], ['b', 'c'], ['ab', 'c'], ['a', 'bc']])
  })

  it('refuses a byte-level tokenizer and a non-SentencePiece file with clear messages', () => {
    const byteLevel = Tokenizer.train(corpus, { vocabSize: 300 })
    expect(() => byteLevel.toSentencePiece()).toThrow(/not Llama \(SentencePiece\) style/)
    const bad = path.join(root, 'bad.model')
    fs.writeFileSync(bad, '{"not": "protobuf"}')
    expect(() => Tokenizer.load(bad)).toThrow(/bad\.model/)
  })

  it('sentencepiece (Python) loads it and gives our ids and text', () => {
    const hasSentencePiece = (() => {
      try {
        execFileSync('/usr/bin/python3', ['-c', 'import sentencepiece'], { stdio: 'ignore' })
        return true
      } catch {
        return false
      }
    })()
    if (!hasSentencePiece) {
      // CI installs python3-sentencepiece (.ci/run): there a missing reference is a failure.
      expect(process.env.CI, 'python3-sentencepiece is required in CI').not.toBe('true')
      return
    }
    const script = [
      'import json, sys, sentencepiece as spm',
      'sp = spm.SentencePieceProcessor(model_file=sys.argv[1])',
      'strings = json.load(sys.stdin)',
      'print(json.dumps({"size": sp.get_piece_size(), "ids": [sp.encode(s) for s in strings], "decoded": [sp.decode(sp.encode(s)) for s in strings]}))',
    ].join('\n')
    const out = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script, file], { input: JSON.stringify(STRINGS) }).toString())
    expect(out.size).toBe(tok.vocabSize)
    expect(STRINGS.map((s, i) => [s, out.ids[i]])).toEqual(STRINGS.map((s) => [s, tok.encode(s)]))
    expect(out.decoded).toEqual(STRINGS.map((s) => tok.decode(tok.encode(s))))
  })
})
