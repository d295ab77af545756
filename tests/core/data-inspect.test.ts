// The data inspector: detection from the first record, counts, the preview as the loaders read
// it (SFT with the chat template and loss mask), and the loaders' own errors with line and field.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Tokenizer } from '../../core/tokenizer'
import { encodeChat } from '../../core/data/chatTemplate'
import { chatSegments, detectDataFile, inspectDataFile } from '../../core/data/inspect'

let dir: string
let tokenizer: Tokenizer

function write(name: string, text: string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, text)
  return file
}

const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n'

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'inspect-'))
  tokenizer = Tokenizer.train(['Who sees the dog? The cat sees the dog. Hello there, how are you?'], { vocabSize: 300 })
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe('detectDataFile', () => {
  it('tells each format from the first record, and every loader that reads it', async () => {
    expect(await detectDataFile(write('a.txt', 'some text\n'))).toEqual({ format: 'text', readableAs: ['text'] })
    expect(await detectDataFile(write('c.jsonl', jsonl([{ text: 'a document' }])))).toMatchObject({ format: 'text', readableAs: ['text'] })
    expect(await detectDataFile(write('m.jsonl', jsonl([{ messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] }])))).toEqual({
      format: 'sft',
      readableAs: ['sft'],
      variant: 'messages',
    })
    // A prompt/response line is SFT first, and a prompt set too.
    expect(await detectDataFile(write('pr.jsonl', jsonl([{ prompt: 'Hi', response: 'Hello' }])))).toEqual({ format: 'sft', readableAs: ['sft', 'prompts'], variant: 'prompt_response' })
    expect(await detectDataFile(write('p.jsonl', jsonl([{ prompt: 'Hi', chosen: 'Hello', rejected: 'Go away' }])))).toEqual({
      format: 'preferences',
      readableAs: ['preferences', 'prompts'],
      variant: 'workbench',
    })
    expect(await detectDataFile(write('q.jsonl', jsonl([{ prompt: 'Name a town', category: 'geo' }])))).toEqual({ format: 'prompts', readableAs: ['prompts'] })
    expect(await detectDataFile(write('arr.json', JSON.stringify([{ instruction: 'Say hi', output: 'hi' }])))).toMatchObject({ format: 'sft', variant: 'alpaca' })
  })

  it('names the line and keys of a first record that reads as nothing', async () => {
    const d = await detectDataFile(write('x.jsonl', '\n' + jsonl([{ question: 'a', answer: 'b' }])))
    expect(d.format).toBeNull()
    expect(d.problem).toMatch(/line 2 reads as no known format \(keys: question, answer\)/)
    const bad = await detectDataFile(write('y.jsonl', '{"messages": [\n'))
    expect(bad.problem).toMatch(/y\.jsonl:1: not valid JSON/)
  })
})

describe('inspectDataFile', () => {
  it('counts a text corpus in characters and lines and previews its start', async () => {
    const file = write('corpus.txt', 'line one\nline two\nline three\n')
    const r = await inspectDataFile(file, { previewChars: 8 })
    expect(r.counts).toEqual({ records: 1, valid: 1, characters: 29, lines: 3 })
    expect(r.preview).toEqual([{ kind: 'text', source: file, text: 'line one', truncated: true }])
    expect(r.errors).toEqual([])
  })

  it('reports the UTF-8 error the corpus loader stops on', async () => {
    const file = path.join(dir, 'latin1.txt')
    fs.writeFileSync(file, Buffer.from([0x61, 0x0a, 0x62, 0xe9, 0x0a]))
    const r = await inspectDataFile(file)
    expect(r.errors).toEqual([`${file}:2: not valid UTF-8: bad byte 0xe9 at byte offset 3 (save the file as UTF-8)`])
  })

  it('renders SFT records with the chat template and marks the trained tokens', async () => {
    const file = write('sft.jsonl', jsonl([
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Who sees the dog?' }, { role: 'assistant', content: 'The cat.' }] },
      { instruction: 'Say hello', output: 'Hello there' },
      { messages: [{ role: 'user', content: 'Hi' }] },
      { prompt: 'Hi', response: 42 },
    ]))
    const r = await inspectDataFile(file, { tokenizer, tokenizerName: 'test tokenizer' })
    expect(r.format).toBe('sft')
    expect(r.counts).toEqual({ records: 4, valid: 2, variants: { messages: 1, alpaca: 1 } })
    expect(r.invalid).toBe(2)
    expect(r.errors).toEqual([`${file}:3: field "messages": has no assistant turn, so nothing to learn`, `${file}:4: field "response": expected a string, got a number`])
    expect(r.tokenizer).toBe('test tokenizer')
    const first = r.preview[0]
    if (first.kind !== 'sft') throw new Error('expected an SFT preview')
    expect(first.source).toBe(`${file}:1`)
    // The template, span by span: only the assistant's words and its <|end|> are trained.
    expect(first.segments.map((s) => [s.text, s.trained])).toEqual([
      ['<s>', false],
      ['<|system|>', false],
      ['Be brief.', false],
      ['<|end|>', false],
      ['<|user|>', false],
      ['Who sees the dog?', false],
      ['<|end|>', false],
      ['<|assistant|>', false],
      ['The cat.', true],
      ['<|end|>', true],
      ['</s>', false],
    ])
    // The same counts the SFT loader's encodeChat gives.
    const encoded = encodeChat(tokenizer, first.messages)
    expect(first.tokens).toBe(encoded.tokens.length)
    expect(first.trainedTokens).toBe(encoded.lossMask.reduce((a, b) => a + b, 0))
    expect(first.segments.reduce((n, s) => n + s.tokens, 0)).toBe(encoded.tokens.length)
  })

  it('shows the messages without segments when no tokenizer is at hand', async () => {
    const r = await inspectDataFile(write('sft2.jsonl', jsonl([{ prompt: 'Hi', response: 'Hello' }])))
    expect(r.preview[0]).toMatchObject({ kind: 'sft', variant: 'prompt_response', segments: [], messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }] })
  })

  it('reads preference pairs with the preference reader and names bad lines', async () => {
    const file = write('prefs.jsonl', jsonl([
      { prompt: 'Hi', chosen: 'Hello!', rejected: 'Go away.', rating: 'better' },
      { prompt: 'Hi', chosen: 'Same', rejected: 'Same' },
      { prompt: 'Hi', chosen: 'Yes', rejected: 'No', rating: 'much_better' },
    ]))
    const r = await inspectDataFile(file)
    expect(r.format).toBe('preferences')
    expect(r.counts).toEqual({ records: 3, valid: 1, variants: { workbench: 1 } })
    expect(r.errors).toEqual([
      `${file}:2: field "rejected": is identical to "chosen", so the pair teaches nothing`,
      expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: field "rating": expected one of`)),
    ])
    expect(r.preview).toEqual([{ kind: 'preferences', source: `${file}:1`, messages: [{ role: 'user', content: 'Hi' }], chosen: 'Hello!', rejected: 'Go away.', rating: 'better', safety: undefined }])
  })

  it('reads prompt sets with the prompt reader, duplicate ids included', async () => {
    const file = write('prompts.jsonl', jsonl([{ id: 'a', prompt: 'One?' }, { id: 'a', prompt: 'Two?' }, { prompt: 'Three?', category: 'x' }]))
    const r = await inspectDataFile(file)
    expect(r.format).toBe('prompts')
    expect(r.counts).toEqual({ records: 3, valid: 2 })
    expect(r.errors).toEqual([`${file}:2: field "id": duplicate id "a" (first at ${file}:1)`])
    expect(r.preview.map((p) => (p.kind === 'prompts' ? p.id : ''))).toEqual(['a', 'line-3'])
  })

  it('says why a file that reads as nothing cannot be used', async () => {
    const r = await inspectDataFile(write('empty.jsonl', '\n\n'))
    expect(r.format).toBeNull()
    expect(r.errors).toEqual(['the file holds no records'])
  })
})

describe('chatSegments', () => {
  it('keeps every token and splits where the loss mask changes', () => {
    const { tokens, lossMask } = encodeChat(tokenizer, [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'again' }, { role: 'assistant', content: 'there' }], { lossOn: 'last_assistant' })
    const segs = chatSegments(tokenizer, tokens, lossMask)
    expect(segs.filter((s) => s.trained).map((s) => s.text)).toEqual(['there', '<|end|>'])
    expect(segs.map((s) => s.text).join('')).toBe(tokenizer.decode(tokens))
  })
})
