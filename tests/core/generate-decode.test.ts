// `workbench generate` prints what the model generated, spaces included, for a tokenizer whose
// decoder strips a leading space (Llama 2 / SentencePiece style): decoding only the new ids
// printed "hello" + "▁world" as "helloworld".
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { resolveModelConfig } from '../../core/model/config'
import { generate } from '../../core/model/generate'
import { Llama } from '../../core/model/llama'
import { Tokenizer } from '../../core/tokenizer'

const fixture = path.join(__dirname, '..', 'fixtures', 'tokenizer', 'llama-sentencepiece.json')
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-gen-decode-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

let dir = ''
let tok: Tokenizer
let model: Llama

beforeAll(async () => {
  await initBackend('wasm')
  tok = Tokenizer.load(fixture)
  const config = resolveModelConfig({ vocab_size: tok.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, multiple_of: 16, max_seq_len: 32 })
  const base = Llama.create(config, 3)
  // Only tokens that start a word ("▁...") can win, so every generated token carries a space
  // the decoder strips from a sequence's first token.
  const head = base.weights['lm_head.weight'].arraySync() as number[][]
  const wordStart = head.map((row, id) => (tok.idToToken(id)?.startsWith('▁') ? row : row.map(() => 0)))
  const weights = { ...base.weights, 'lm_head.weight': tf.tensor2d(wordStart) }
  dir = await saveCheckpoint(path.join(root, 'ckpt'), { config, weights, tokenizer: tok })
  model = Llama.fromWeights(config, weights)
})

async function cli(argv: string[]) {
  const io = bufferIO()
  const code = await runCli(argv, io)
  return { code, stdout: io.stdout.join(''), stderr: io.stderr.join('\n'), lines: io.stdout }
}

describe('generate decodes new tokens in the context of the prompt', () => {
  it('prints the spaces between the prompt and each new word (text and --json)', async () => {
    const prompt = 'hello'
    const promptIds = tok.encode(prompt, { bos: true })
    const expected = await generate(model, promptIds, { maxNewTokens: 4, temperature: 0, stopIds: [tok.special.eos] })
    expect(tok.idToToken(expected.ids[0])?.startsWith('▁')).toBe(true)
    const whole = tok.decode([...promptIds, ...expected.ids], { skipSpecial: true })
    expect(whole.startsWith('hello ')).toBe(true)

    const text = await cli(['generate', '--model', dir, '--prompt', prompt, '--max-tokens', '4', '--temperature', '0', '--home', root, '--backend', 'wasm'])
    expect(text.stderr).toBe('')
    expect(text.stdout).toBe(whole + '\n')

    const json = await cli(['generate', '--model', dir, '--prompt', prompt, '--max-tokens', '4', '--temperature', '0', '--home', root, '--backend', 'wasm', '--json'])
    expect(JSON.parse(json.lines[0]).text).toBe(whole.slice(prompt.length))
  }, 60_000)
})
