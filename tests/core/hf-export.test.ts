// A checkpoint folder as Hugging Face tools read it: tokenizer_config.json's Jinja chat template,
// rendered by @huggingface/jinja (the renderer transformers.js uses), gives exactly the workbench
// chat format, and tokenizing the rendered text with @huggingface/tokenizers gives our ids.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Template } from '@huggingface/jinja'
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../core/backend'
import { encodeChat, encodeChatPrompt, type ChatMessage } from '../../core/data/chatTemplate'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { resolveModelConfig } from '../../core/model/config'
import { Llama } from '../../core/model/llama'
import { Tokenizer } from '../../core/tokenizer'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-hf-export-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

const corpus = ['Hello there! How are you today? I am fine, thanks.', 'Be brief. Answer in one line: 2 + 2 = 4.', 'Bonjour 日本語 🎉 {{ not jinja }} {% raw %}'].flatMap((t) => [t, t, t.toUpperCase()])

const CONVERSATIONS: ChatMessage[][] = [
  [{ role: 'user', content: 'Hi' }],
  [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello! How can I help?' }],
  [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 2 + 2?' }, { role: 'assistant', content: '4' }],
  [
    { role: 'system', content: 'You answer in French.' },
    { role: 'user', content: 'Hello' },
    { role: 'assistant', content: 'Bonjour !' },
    { role: 'user', content: 'And in Japanese?' },
    { role: 'assistant', content: 'こんにちは 🎉' },
    { role: 'user', content: 'Thanks' },
  ],
  [{ role: 'user', content: "quotes ' \" and backslashes \\ and {{ braces }} {% tags %}" }],
  [{ role: 'user', content: '  leading spaces, trailing newline\n' }, { role: 'assistant', content: '\ttab\n\nlines  ' }],
  [{ role: 'user', content: 'typed tokens <|end|><|assistant|> stay text' }],
  [{ role: 'user', content: '' }, { role: 'assistant', content: '' }],
]

const styles: Array<['bytelevel' | 'llama']> = [['bytelevel'], ['llama']]

beforeAll(async () => {
  await initBackend('wasm')
})

describe.each(styles)('Hugging Face export of a %s checkpoint', (style) => {
  const tok = Tokenizer.train(corpus, { vocabSize: 400, style })
  let dir = ''
  let tokenizerConfig: Record<string, unknown> = {}
  let template: Template
  beforeAll(async () => {
    const config = resolveModelConfig({ vocab_size: tok.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, multiple_of: 16, max_seq_len: 32 })
    const model = Llama.create(config, 1)
    dir = await saveCheckpoint(path.join(root, style), { config, weights: model.weights, tokenizer: tok })
    model.dispose()
    tokenizerConfig = JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8'))
    template = new Template(tokenizerConfig.chat_template as string)
  })

  const render = (messages: ChatMessage[], addGenerationPrompt: boolean) =>
    template.render({ messages, add_generation_prompt: addGenerationPrompt, bos_token: tokenizerConfig.bos_token, eos_token: tokenizerConfig.eos_token })

  it('writes tokenizer_config.json (tokens, chat template) and generation_config.json', () => {
    expect(tokenizerConfig).toMatchObject({ tokenizer_class: 'PreTrainedTokenizerFast', bos_token: '<s>', eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' })
    const generation = JSON.parse(fs.readFileSync(path.join(dir, 'generation_config.json'), 'utf8'))
    expect(generation).toEqual({ bos_token_id: tok.special.bos, eos_token_id: [tok.special.eos, tok.special.end_of_turn], pad_token_id: tok.special.pad })
  })

  it.each(CONVERSATIONS.map((c, i) => [i, c] as const))('conversation %i renders our format, and tokenizes to our ids', (_i, messages) => {
    const hf = new HfTokenizer(tok.toJSON() as never, tokenizerConfig as never)
    const ids = (text: string) => hf.encode(text, { add_special_tokens: false }).ids

    // Special-token text typed in a message is plain text for us (no forged turns) and a special
    // token for Hugging Face, which parses the rendered string: there the ids differ by design.
    const typedSpecials = messages.some((m) => /<\|[a-z]+\|>|<\/?s>/.test(m.content))
    const training = render(messages, false)
    const expected = '<s>' + messages.map((m) => `<|${m.role}|>${m.content}<|end|>`).join('') + '</s>'
    expect(training).toBe(expected)
    expect(ids(training)).toEqual(tok.encode(training, { specialTokens: 'parse' }))
    if (!typedSpecials) expect(ids(training)).toEqual(encodeChat(tok, messages).tokens)

    const prompt = render(messages, true)
    expect(prompt).toBe(expected.slice(0, -'</s>'.length) + '<|assistant|>')
    expect(ids(prompt)).toEqual(tok.encode(prompt, { specialTokens: 'parse' }))
    if (!typedSpecials) expect(ids(prompt)).toEqual(encodeChatPrompt(tok, messages))
    else expect(ids(prompt)).not.toEqual(encodeChatPrompt(tok, messages))
    if (style === 'bytelevel') expect(tok.decode(encodeChatPrompt(tok, messages))).toBe(prompt)
  })

  it('refuses an unknown role', () => {
    expect(() => render([{ role: 'tool' as never, content: 'x' }], true)).toThrow(/unknown role: tool/)
  })
})
