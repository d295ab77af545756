// Pretraining sample prompts start and end on whole words (they were 8 raw tokens: "ver the riv").
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { Store } from '../../core/tracking/store'
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

describe('pretraining samples', () => {
  it('a pretraining run logs sample prompts made of whole words of its text', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-prompts-'))
    try {
      const text = Array.from({ length: 60 }, (_, i) => `Remember to water the hydrangeas and feed the cat ${i % 7} times before travelling.`).join('\n')
      const data = path.join(home, 'notes.txt')
      fs.writeFileSync(data, text)
      const tiny = { dim: 32, n_layers: 2, seq_len: 32, batch_size: 4, vocab_size: 300, max_steps: 2, log_every: 1, eval_every: 0, sample_every: 2, sample_count: 3, sample_tokens: 2, checkpoint_every: 0 }
      const sets = Object.entries(tiny).flatMap(([k, v]) => ['--set', `${k}=${v}`])
      const io = bufferIO()
      const code = await runCli(['pretrain', '--data', data, '--home', home, '--backend', 'wasm', '--json', ...sets], io)
      expect(code, io.stderr.join('\n')).toBe(0)
      const runId = JSON.parse(io.stdout[0]).run_id
      const store = Store.open(home)
      const prompts = store.listSamples(runId).map((s) => s.prompt.trim())
      store.close()
      expect(prompts.length).toBe(3)
      const words = new Set(text.split(/\s+/))
      for (const prompt of prompts) for (const word of prompt.split(/\s+/)) expect(words, `"${prompt}"`).toContain(word)
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  }, 180_000)
})
