import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { corpusTexts, firstInvalidUtf8Offset, listCorpusFiles, loadPretrainData, packWindows, readUtf8File, tokenizeCorpus } from '../../core/data'
import { Tokenizer } from '../../core/tokenizer'

const fixtures = path.join(__dirname, '..', 'fixtures', 'data')
const corpusDir = path.join(fixtures, 'corpus')
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'wb-data-'))
const tokenizer = Tokenizer.train([fs.readFileSync(path.join(corpusDir, 'a.txt'), 'utf8'), fs.readFileSync(path.join(corpusDir, 'sub', 'b.md'), 'utf8')], { vocabSize: 320 })

describe('corpus files', () => {
  it('finds .txt .md .text .jsonl recursively, sorted, skipping hidden and other files', () => {
    const files = listCorpusFiles(corpusDir).map((f) => path.relative(corpusDir, f))
    expect(files).toEqual(['a.txt', 'docs.jsonl', path.join('sub', 'b.md'), path.join('sub', 'c.text')])
  })

  it('errors on a missing path and a folder with no text files', () => {
    expect(() => listCorpusFiles(path.join(corpusDir, 'nope'))).toThrow(/nope: does not exist/)
    const empty = tmp()
    fs.writeFileSync(path.join(empty, 'data.csv'), 'a,b\n')
    expect(() => listCorpusFiles(empty)).toThrow(/folder holds no \.txt \/ \.md \/ \.text \/ \.jsonl files/)
  })

  it('rejects non-UTF-8 bytes naming the file, line and byte offset', () => {
    const dir = tmp()
    const file = path.join(dir, 'latin1.txt')
    fs.writeFileSync(file, Buffer.concat([Buffer.from('line one\nline two caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]))
    expect(() => readUtf8File(file)).toThrow(`${file}:2: not valid UTF-8: bad byte 0xe9 at byte offset 21`)
    expect(() => tokenizeCorpus(dir, tokenizer)).toThrow(/latin1\.txt:2: not valid UTF-8/)
  })

  it('finds the first invalid UTF-8 byte (overlong, surrogate, truncated)', () => {
    expect(firstInvalidUtf8Offset(Buffer.from('ok ✓ 🦙'))).toBe(-1)
    expect(firstInvalidUtf8Offset(Uint8Array.from([0x61, 0xc0, 0x80]))).toBe(1) // overlong
    expect(firstInvalidUtf8Offset(Uint8Array.from([0x61, 0xed, 0xa0, 0x80]))).toBe(1) // surrogate
    expect(firstInvalidUtf8Offset(Uint8Array.from([0x61, 0x62, 0xe2, 0x9c]))).toBe(2) // cut short
  })

  it('rejects an empty file and an empty corpus', () => {
    const dir = tmp()
    fs.writeFileSync(path.join(dir, 'empty.txt'), '  \n')
    expect(() => tokenizeCorpus(dir, tokenizer)).toThrow(/empty\.txt: file is empty/)
    const dir2 = tmp()
    fs.writeFileSync(path.join(dir2, 'blank.jsonl'), '{"text": ""}\n')
    expect(() => tokenizeCorpus(dir2, tokenizer)).toThrow(/blank\.jsonl: no documents/)
  })

  it('names the file, line and field of a bad JSONL line, or skips and counts it', () => {
    const dir = tmp()
    const file = path.join(dir, 'docs.jsonl')
    fs.writeFileSync(file, '{"text": "good one"}\n{"txt": "typo"}\n{"text": 5}\nnot json\n{"text": "good two"}\n')
    expect(() => tokenizeCorpus(file, tokenizer)).toThrow(`${file}:2: field "text": missing`)
    const skipped = tokenizeCorpus(file, tokenizer, { skipInvalid: true })
    expect(skipped.documents).toBe(2)
    expect(skipped.skipped.count).toBe(3)
    expect(skipped.skipped.examples[1]).toBe(`${file}:3: field "text": expected a string, got a number`)
    expect(skipped.skipped.examples[2]).toMatch(/docs\.jsonl:4: not valid JSON/)
  })
})

describe('tokenising and packing', () => {
  it('joins documents as <s> doc </s> (one per text file, one per JSONL line)', () => {
    const corpus = tokenizeCorpus(corpusDir, tokenizer)
    expect(corpus.documents).toBe(3 + 3) // a.txt, b.md, c.text + three JSONL lines
    const bos = [...corpus.tokens].filter((t) => t === tokenizer.special.bos).length
    const eos = [...corpus.tokens].filter((t) => t === tokenizer.special.eos).length
    expect([bos, eos]).toEqual([6, 6])
    expect(corpus.tokens[0]).toBe(tokenizer.special.bos)
    expect(corpus.tokens[corpus.tokens.length - 1]).toBe(tokenizer.special.eos)
    const firstDoc = tokenizer.decode([...corpus.tokens.subarray(1, corpus.tokens.indexOf(tokenizer.special.eos))])
    expect(firstDoc).toBe(fs.readFileSync(path.join(corpusDir, 'a.txt'), 'utf8'))
  })

  it('corpusTexts yields the same documents, for training a tokenizer on the data', () => {
    const docs = [...corpusTexts(corpusDir)]
    expect(docs.length).toBe(6)
    expect(docs[1]).toBe('A fox crossed the frozen lake at dawn and left a line of prints.')
    const tok = Tokenizer.train(corpusTexts(corpusDir), { vocabSize: 300 })
    expect(tok.decode(tok.encode(docs[5]))).toBe(docs[5])
  })

  it('caches tokens keyed by tokenizer and file contents', () => {
    const cacheDir = tmp()
    const dir = tmp()
    fs.writeFileSync(path.join(dir, 'one.txt'), 'alpha beta gamma delta')
    const first = tokenizeCorpus(dir, tokenizer, { cacheDir })
    expect(first.cached).toBe(false)
    expect(fs.existsSync(first.cacheFile as string)).toBe(true)
    const second = tokenizeCorpus(dir, tokenizer, { cacheDir })
    expect(second.cached).toBe(true)
    expect([...second.tokens]).toEqual([...first.tokens])
    // Same size, different content: a new key.
    fs.writeFileSync(path.join(dir, 'one.txt'), 'alpha beta gamma DELTA')
    const changed = tokenizeCorpus(dir, tokenizer, { cacheDir })
    expect(changed.cached).toBe(false)
    expect(changed.cacheFile).not.toBe(first.cacheFile)
    // Another tokenizer: a new key.
    const other = Tokenizer.train(['alpha beta gamma delta'], { vocabSize: 280 })
    expect(tokenizeCorpus(dir, other, { cacheDir }).cached).toBe(false)
    // A damaged cache is rebuilt.
    fs.writeFileSync(changed.cacheFile as string, 'garbage')
    const rebuilt = tokenizeCorpus(dir, tokenizer, { cacheDir })
    expect(rebuilt.cached).toBe(false)
    expect([...rebuilt.tokens]).toEqual([...changed.tokens])
  })

  it('packs windows of seq_len + 1 that overlap by one token, with a held-out split', () => {
    const tokens = Int32Array.from({ length: 101 }, (_, i) => i)
    const { train, val } = packWindows(tokens, 10, 0.2)
    expect(train.windowLength).toBe(11)
    expect(train.starts.length + val.starts.length).toBe(10)
    expect(val.starts.length).toBe(2)
    expect([...val.starts]).toEqual([20, 70]) // evenly spread
    const all = [...train.starts, ...val.starts].sort((a, b) => a - b)
    expect(all).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90])
  })

  it('holds out at least one window and needs two', () => {
    const { val } = packWindows(Int32Array.from({ length: 21 }), 10, 0)
    expect(val.starts.length).toBe(1)
    expect(() => packWindows(Int32Array.from({ length: 20 }), 10, 0.1)).toThrow(/20 tokens make 1 window\(s\) of seq_len \+ 1 = 11 tokens; need at least 2/)
  })

  it('loadPretrainData puts it together deterministically', () => {
    const a = loadPretrainData({ paths: corpusDir, tokenizer, seqLen: 16, valFraction: 0.1 })
    const b = loadPretrainData({ paths: [corpusDir], tokenizer, seqLen: 16, valFraction: 0.1 })
    expect(a.stats.files).toBe(4)
    expect(a.stats.valWindows).toBeGreaterThanOrEqual(1)
    expect(a.stats.trainWindows + a.stats.valWindows).toBe(Math.floor((a.stats.tokens - 1) / 16))
    expect([...a.val.starts]).toEqual([...b.val.starts])
    expect(() => loadPretrainData({ paths: corpusDir, tokenizer, seqLen: 0 })).toThrow(/seq_len must be a positive integer/)
    expect(() => loadPretrainData({ paths: corpusDir, tokenizer, seqLen: 8, valFraction: 0.9 })).toThrow(/val_fraction must be between 0 and 0.5/)
  })
})
