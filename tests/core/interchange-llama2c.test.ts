// llama2.c export: refused for a byte-level tokenizer (with the reason), and for a Llama-style
// tokenizer the model .bin and tokenizer.bin are read back by an independent Python reader
// (tests/fixtures/interchange/read_llama2c.py) that follows export.py and run.c.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { writeExport } from '../../core/interchange/exportModel'
import { Tokenizer } from '../../core/tokenizer'
import { makeFixtureCheckpoint } from './interchange-fixture'

const PYTHON = '/usr/bin/python3'
const READER = path.resolve('tests/fixtures/interchange/read_llama2c.py')

/** A minimal Llama 2 style tokenizer.json: <unk> <s> </s>, the 256 byte pieces, "▁" words, byte fallback. */
function llamaStyleTokenizer(): Tokenizer {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 }
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b
  const pieces = ['▁', 't', 'h', 'e', 'k', 'i', 'n', 'g', '▁t', 'he', '▁the', '▁k', 'in', '▁kin', '▁king']
  pieces.forEach((p, i) => (vocab[p] = 259 + i))
  return Tokenizer.fromJSON({
    version: '1.0',
    added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, fuse_unk: true, vocab, merges: ['▁ t', 'h e', '▁t he', '▁ k', 'i n', '▁k in', '▁kin g'] },
  })
}

describe('llama2.c export', () => {
  beforeAll(async () => {
    await initBackend('cpu')
  })

  it('refuses a byte-level tokenizer and says why', async () => {
    const fx = await makeFixtureCheckpoint()
    const out = path.join(path.dirname(fx.dir), 'model.bin')
    await expect(writeExport(fx.dir, { format: 'llama2c', out })).rejects.toThrow(/run\.c hard-codes byte tokens at id byte\+3.*byte-level BPE/)
    expect(fs.existsSync(out)).toBe(false)
  })

  for (const tie of [false, true]) {
    it(`writes a version 1 .bin and tokenizer.bin an independent reader accepts (${tie ? 'tied' : 'untied'} embeddings)`, async () => {
      const fx = await makeFixtureCheckpoint({ tokenizer: llamaStyleTokenizer(), tie })
      const out = path.join(path.dirname(fx.dir), 'model.bin')
      const result = await writeExport(fx.dir, { format: 'llama2c', out })
      expect(result.files.map((f) => path.basename(f))).toEqual(['model.bin', 'tokenizer.bin'])
      let report: string
      try {
        report = execFileSync(PYTHON, [READER, out, path.join(path.dirname(out), 'tokenizer.bin'), fx.dir], { encoding: 'utf8' })
      } catch (err) {
        const e = err as { stdout?: string; stderr?: string; code?: string }
        if (e.code === 'ENOENT' && !process.env.CI) return // no python3 here; CI has it
        throw new Error(`reader failed: ${e.stdout ?? ''} ${e.stderr ?? ''}`)
      }
      const found = JSON.parse(report)
      expect(found).toMatchObject({ ok: true, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, vocab_size: fx.config.vocab_size, seq_len: 64, shared: tie ? 1 : 0 })
      expect(found.tensors).toBe(2 * 2 + 2 + 7 * 2 + (tie ? 0 : 1))
      // "▁" is written as a space; merged pieces score minus their merge rank (earlier merges win in run.c).
      const king = fx.tokenizer.tokenToId('▁king')!
      expect(found.pieces[king]).toBe(' king')
      expect(found.scores[king]).toBe(-7)
      expect(found.scores[fx.tokenizer.tokenToId('▁t')!]).toBe(-1)
      fs.rmSync(path.dirname(fx.dir), { recursive: true, force: true })
    })
  }
})
