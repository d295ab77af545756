import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodeContinuation, DecodeStream, MIN_VOCAB_SIZE, SPECIAL_TOKENS, Tokenizer } from '../../core/tokenizer'

const fixtures = path.join(__dirname, '..', 'fixtures', 'tokenizer')
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'wb-tok-'))

const corpus = [
  'The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs.',
  'In 2023 the model saw 1234567 tokens and 42 documents.\n\nNew paragraph:\ttabs   and  spaces.',
  'Les élèves étudient à l’école. 日本語のテキストも少し。 Emoji 🎉🚀 too.',
  'def encode(text):\n    return [ord(c) for c in text]\n',
].flatMap((t) => [t, t.toUpperCase(), t.split(' ').reverse().join(' ')])

const tricky = [
  '',
  ' ',
  'hello',
  '  leading and trailing spaces  ',
  'tabs\tand\nnewlines\r\nand\n\n\nruns',
  'emoji 👋🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷',
  'CJK 中文字符 日本語 한국어',
  'combining e\u0301 a\u0300 n\u0303 (decomposed) vs é à ñ',
  'zero width \u200b joiner \u200d nbsp\u00a0end',
  'null \u0000 control \u0007 byte',
  'numbers 3.14159 and 1,000,000 and ٣٤٥ and ½',
  'specials as text: <s> </s> <pad> <unk> <|system|> <|user|> <|assistant|> <|end|>',
  "contractions: it's we're they've I'm we'll he'd",
  'lone surrogate-free astral 𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
]

const trained = Tokenizer.train(corpus, { vocabSize: 400 })

describe('Tokenizer.train', () => {
  it('reaches the requested vocabulary size on enough text, with specials at ids 0..7', () => {
    expect(trained.vocabSize).toBe(400)
    expect(trained.special).toEqual({ unk: 0, bos: 1, eos: 2, pad: 3, system: 4, user: 5, assistant: 6, end_of_turn: 7 })
    expect(trained.tokenToId('<|assistant|>')).toBe(6)
  })

  it('learns merges: frequent words take fewer tokens than bytes', () => {
    const ids = trained.encode('the fox')
    expect(ids.length).toBeLessThan('the fox'.length)
  })

  it('stops early when the text has no more pairs', () => {
    const small = Tokenizer.train(['ab ab ab'], { vocabSize: 1000 })
    expect(small.vocabSize).toBeLessThan(1000)
    expect(small.decode(small.encode('ab ab'))).toBe('ab ab')
  })

  it('reports progress', () => {
    const seen: number[] = []
    Tokenizer.train(corpus, { vocabSize: 500, onProgress: (m) => seen.push(m) })
    expect(seen.length).toBeGreaterThan(0)
    expect(seen[seen.length - 1]).toBeGreaterThanOrEqual(200)
  })

  it('is deterministic', () => {
    const again = Tokenizer.train(corpus, { vocabSize: 400 })
    expect(again.hash()).toBe(trained.hash())
  })

  it('rejects a bad vocabulary size and empty text', () => {
    expect(() => Tokenizer.train(corpus, { vocabSize: 100 })).toThrow(/vocab_size must be an integer from 264/)
    expect(() => Tokenizer.train(corpus, { vocabSize: 300.5 })).toThrow(/vocab_size/)
    expect(() => Tokenizer.train([''], { vocabSize: 300 })).toThrow(/training text is empty/)
    expect(MIN_VOCAB_SIZE).toBe(264)
  })
})

describe('encode / decode', () => {
  it.each(tricky)('round-trips %j exactly', (text) => {
    expect(trained.decode(trained.encode(text))).toBe(text)
  })

  it('round-trips text it never saw, byte by byte', () => {
    const unseen = 'Ωμέγα ✓ ∑ ﷽ 🦙 \u{10FFFF}'
    const ids = trained.encode(unseen)
    expect(ids.every((id) => id >= 8 && id < trained.vocabSize)).toBe(true)
    expect(trained.decode(ids)).toBe(unseen)
  })

  it('splits every number into single digits', () => {
    const tokens = trained.encode('in 2023 and 1234567').map((id) => trained.decode([id]))
    expect(tokens).toContain('2')
    for (const t of tokens) if (/\d/.test(t)) expect(t).toMatch(/^\d$/)
  })

  it('adds BOS / EOS on request', () => {
    const ids = trained.encode('hi', { bos: true, eos: true })
    expect(ids[0]).toBe(trained.special.bos)
    expect(ids[ids.length - 1]).toBe(trained.special.eos)
    expect(trained.decode(ids)).toBe('<s>hi</s>')
    expect(trained.decode(ids, { skipSpecial: true })).toBe('hi')
  })

  it('treats special-token text as plain text unless specialTokens is "parse"', () => {
    const text = '<|user|>hello<|end|>'
    const plain = trained.encode(text)
    expect(plain).not.toContain(trained.special.user)
    expect(plain).not.toContain(trained.special.end_of_turn)
    const withSpecials = trained.encode(text, { specialTokens: 'parse' })
    expect(withSpecials[0]).toBe(trained.special.user)
    expect(withSpecials[withSpecials.length - 1]).toBe(trained.special.end_of_turn)
    expect(withSpecials.slice(1, -1)).toEqual(trained.encode('hello'))
    expect(trained.decode(withSpecials)).toBe(text)
    expect(trained.decode(withSpecials, { skipSpecial: true })).toBe('hello')
  })

  it('concatenating encodings of pieces split at spaces decodes to the whole', () => {
    const ids = [...trained.encode('Hello'), ...trained.encode(' world')]
    expect(trained.decode(ids)).toBe('Hello world')
  })

  it('rejects an id outside the vocabulary', () => {
    expect(() => trained.decode([5, 99999])).toThrow(/id 99999 is not in the vocabulary/)
  })
})

describe('save / load', () => {
  it('writes a Hugging Face tokenizer.json that loads back with identical ids', () => {
    const dir = tmp()
    trained.save(dir) // a folder: writes dir/tokenizer.json
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8'))
    expect(json.model.type).toBe('BPE')
    expect(json.added_tokens.map((t: { content: string }) => t.content)).toEqual(Object.values(SPECIAL_TOKENS))
    expect(json.model.merges.length).toBeGreaterThan(100)
    expect(typeof json.model.merges[0]).toBe('string')

    const loaded = Tokenizer.load(dir)
    expect(loaded.vocabSize).toBe(trained.vocabSize)
    expect(loaded.special).toEqual(trained.special)
    expect(loaded.hash()).toBe(trained.hash())
    for (const text of [...tricky, ...corpus]) expect(loaded.encode(text)).toEqual(trained.encode(text))
  })

  it('saves to a file path and loads it by that path', () => {
    const file = path.join(tmp(), 'nested', 'tok.json')
    trained.save(file)
    expect(Tokenizer.load(file).encode('the lazy dog')).toEqual(trained.encode('the lazy dog'))
  })

  it('fromJSON(toJSON()) is the same tokenizer, and toJSON returns a copy', () => {
    const json = trained.toJSON() as { model: { merges: string[] } }
    json.model.merges.length = 0
    expect(Tokenizer.fromJSON(trained.toJSON()).hash()).toBe(trained.hash())
  })

  it('hash changes with the merges', () => {
    expect(Tokenizer.train(corpus, { vocabSize: 401 }).hash()).not.toBe(trained.hash())
  })

  it('gives clear errors for missing files, bad JSON and unsupported models', () => {
    const dir = tmp()
    expect(() => Tokenizer.load(path.join(dir, 'nope.json'))).toThrow(/nope\.json does not exist/)
    fs.writeFileSync(path.join(dir, 'bad.json'), '{ "model": ')
    expect(() => Tokenizer.load(path.join(dir, 'bad.json'))).toThrow(/bad\.json is not valid JSON/)
    fs.writeFileSync(path.join(dir, 'wp.json'), JSON.stringify({ model: { type: 'WordPiece', vocab: { a: 0 } } }))
    expect(() => Tokenizer.load(path.join(dir, 'wp.json'))).toThrow(/wp\.json: model\.type "WordPiece" is not supported: only BPE/)
    expect(() => Tokenizer.fromJSON({ model: { type: 'Unigram', vocab: [] } })).toThrow(/"Unigram" is not supported/)
    expect(() => Tokenizer.fromJSON([])).toThrow(/must be a JSON object/)
    const json = trained.toJSON() as { model: { merges: string[] } }
    json.model.merges[3] = 'only-one-part'
    expect(() => Tokenizer.fromJSON(json)).toThrow(/model\.merges\[3\]/)
    const json2 = trained.toJSON() as { pre_tokenizer: unknown }
    json2.pre_tokenizer = { type: 'BertPreTokenizer' }
    expect(() => Tokenizer.fromJSON(json2)).toThrow(/pre_tokenizer\.type "BertPreTokenizer" is not supported/)
  })
})

describe('foreign tokenizer.json files', () => {
  for (const name of ['llama-sentencepiece.json', 'llama-metaspace.json']) {
    describe(name, () => {
      const tok = Tokenizer.load(path.join(fixtures, name))
      const pieces = (text: string) => tok.encode(text).map((id) => tok.idToToken(id))

      it('encodes with the file merges, "▁" for spaces and byte fallback', () => {
        expect(pieces('hello world')).toEqual(['▁hello', '▁world'])
        expect(tok.encode('hello world')).toEqual([274, 279])
        // "é" is not in the vocabulary: its UTF-8 bytes C3 A9 become <0xC3> <0xA9> (ids 3 + byte).
        expect(pieces('héllo')).toEqual(['▁h', '<0xC3>', '<0xA9>', 'll', 'o'])
        expect(tok.encode('héllo')).toEqual([270, 3 + 0xc3, 3 + 0xa9, 271, 263])
        expect(pieces('hello\n')).toEqual(['▁hello', '<0x0A>'])
        expect(pieces('123')).toEqual(['▁', '1', '2', '3'])
      })

      it('decodes back, stripping the one space SentencePiece prepends', () => {
        for (const text of ['hello world', 'héllo\n', 'world 🦙 hello', '']) expect(tok.decode(tok.encode(text))).toBe(text)
      })

      it('maps the roles: <unk> <s> </s> from the file, PAD to UNK, chat tokens appended', () => {
        expect(tok.special.unk).toBe(0)
        expect(tok.special.bos).toBe(1)
        expect(tok.special.eos).toBe(2)
        expect(tok.special.pad).toBe(0)
        expect(tok.addedOnLoad).toEqual(['<|system|>', '<|user|>', '<|assistant|>', '<|end|>'])
        expect([tok.special.system, tok.special.user, tok.special.assistant, tok.special.end_of_turn]).toEqual([280, 281, 282, 283])
        expect(tok.vocabSize).toBe(284)
        expect(tok.encode('hello', { bos: true })).toEqual([1, 274])
        // Text right after a special token: the older normalizer flavour prepends "▁" to every
        // stretch of text; Metaspace's prepend_scheme "first" only at offset 0 (as Hugging Face does).
        const afterSpecial = tok.encode('<s>hello', { specialTokens: 'parse' }).map((id) => tok.idToToken(id))
        expect(afterSpecial).toEqual(name === 'llama-metaspace.json' ? ['<s>', 'h', 'e', 'll', 'o'] : ['<s>', '▁hello'])
      })

      it('saves with the appended tokens and loads back the same', () => {
        const file = path.join(tmp(), 'tokenizer.json')
        tok.save(file)
        const again = Tokenizer.load(file)
        expect(again.addedOnLoad).toEqual([])
        expect(again.special).toEqual(tok.special)
        expect(again.encode('héllo world')).toEqual(tok.encode('héllo world'))
      })
    })
  }

  describe('gpt2-bytelevel.json', () => {
    const tok = Tokenizer.load(path.join(fixtures, 'gpt2-bytelevel.json'))
    const pieces = (text: string) => tok.encode(text).map((id) => tok.idToToken(id))

    it('encodes with the GPT-2 split rule and byte-level characters', () => {
      expect(pieces('the cat sat 123')).toEqual(['the', 'Ġcat', 'Ġ', 's', 'at', 'Ġ', '12', '3'])
      // ids from the file: merged tokens start at 256; "s" is byte 0x73, the 0x73-0x21 = 82nd printable.
      expect(tok.encode('the cat')).toEqual([259, 262])
      expect(tok.encode('s')).toEqual([0x73 - 0x21])
    })

    it('round-trips any text (all 256 bytes are in the vocabulary)', () => {
      for (const text of tricky) expect(tok.decode(tok.encode(text))).toBe(text)
    })

    it('uses <|endoftext|> for BOS, EOS and UNK', () => {
      expect(tok.special.bos).toBe(264)
      expect(tok.special.eos).toBe(264)
      expect(tok.special.unk).toBe(264)
      expect(tok.addedOnLoad).toEqual(['<|system|>', '<|user|>', '<|assistant|>', '<|end|>'])
      expect(tok.encode('the<|endoftext|>', { specialTokens: 'parse' })).toEqual([259, 264])
    })
  })
})

describe('DecodeStream', () => {
  const streamed = (tok: Tokenizer, ids: number[], skipSpecial = false) => {
    const stream = new DecodeStream(tok, { skipSpecial })
    const pieces = ids.map((id) => stream.push(id))
    return { pieces, text: pieces.join('') }
  }

  it('emits whole characters only and adds up to decode()', () => {
    const text = 'Hi 👋🏽 日本語, done.'
    const ids = trained.encode(text, { bos: true })
    const { pieces, text: joined } = streamed(trained, ids, true)
    expect(joined).toBe(text)
    expect(pieces.some((p) => p.includes('\uFFFD'))).toBe(false)
    expect(pieces.filter((p) => p === '').length).toBeGreaterThan(0) // emoji bytes held back
  })

  it('keeps the spaces a SentencePiece-style decoder would strip per token', () => {
    const tok = Tokenizer.load(path.join(fixtures, 'llama-sentencepiece.json'))
    const ids = tok.encode('hello world héllo')
    expect(streamed(tok, ids).text).toBe(tok.decode(ids))
  })

  it('continues a prompt with its spaces: "hello" + "▁world" is " world", not "world"', () => {
    const tok = Tokenizer.load(path.join(fixtures, 'llama-sentencepiece.json'))
    const prompt = tok.encode('hello', { bos: true })
    const all = tok.encode('hello world', { bos: true })
    const added = all.slice(prompt.length)
    expect(tok.decode(added)).toBe('world') // the bug: a Llama decoder strips the first new token's space
    expect(decodeContinuation(tok, prompt, added, { skipSpecial: true })).toBe(' world')
    const stream = new DecodeStream(tok, { skipSpecial: true }, prompt)
    expect(added.map((id) => stream.push(id)).join('') + stream.flush()).toBe(' world')
  })

  it('flush() returns an unfinished character as U+FFFD', () => {
    const ids = trained.encode('ok 🦙') // unseen: 4 byte tokens
    const stream = new DecodeStream(trained)
    const shown = ids.slice(0, -1).map((id) => stream.push(id)).join('')
    expect(shown.includes('\uFFFD')).toBe(false)
    expect(shown + stream.flush()).toBe(trained.decode(ids.slice(0, -1)))
  })
})
