import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { readPreferencePairs, readPromptSet } from '../../core/data'

const fixtures = path.join(__dirname, '..', 'fixtures', 'data')
function jsonl(lines: Array<object | string>): string {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wb-pr-')), 'set.jsonl')
  fs.writeFileSync(file, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n')
  return file
}

describe('prompt sets', () => {
  it('reads prompt, id, category, tags, a multi-turn context, and keeps other fields', () => {
    const { items, skipped } = readPromptSet(path.join(fixtures, 'prompts.jsonl'))
    expect(skipped.count).toBe(0)
    expect(items.map((i) => i.id)).toEqual(['p1', 'line-2', '3'])
    expect(items[0]).toMatchObject({ prompt: 'Write a haiku about rain.', category: 'creative', tags: ['poem', 'short'] })
    expect(items[0].messages).toEqual([{ role: 'user', content: 'Write a haiku about rain.' }])
    expect(items[1].tags).toEqual([])
    expect(items[2].messages.length).toBe(3)
    expect(items[2].extra).toEqual({ gold: { check: 'contains bonjour' } })
  })

  it('names file, line and field of bad lines, or skips and counts them', () => {
    const file = jsonl([
      { prompt: 'ok' },
      { id: 'x' },
      { prompt: 'p', tags: 'one' },
      { prompt: 'p', id: {} },
      { prompt: 'p', messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] },
      { prompt: 'dup', id: 'line-1' },
    ])
    expect(() => readPromptSet(file)).toThrow(`${file}:2: field "prompt": missing`)
    const { items, skipped } = readPromptSet(file, { skipInvalid: true })
    expect(items.length).toBe(1)
    expect(skipped.count).toBe(5)
    expect(skipped.examples).toEqual([
      `${file}:2: field "prompt": missing`,
      `${file}:3: field "tags": expected a list of strings, got a string`,
      `${file}:4: field "id": expected a non-empty string or a number, got an object`,
      `${file}:5: field "messages[1].role": the last turn must be "user", got "assistant"`,
      `${file}:6: field "id": duplicate id "line-1" (first at ${file}:1)`,
    ])
  })

  it('errors when nothing valid is left', () => {
    const file = jsonl([{ nope: 1 }])
    expect(() => readPromptSet(file, { skipInvalid: true })).toThrow(/set\.jsonl: no valid prompts \(1 skipped\)/)
  })
})

describe('preference pairs', () => {
  it('reads prompt, chosen, rejected, rating and safety label', () => {
    const { pairs } = readPreferencePairs(path.join(fixtures, 'preferences.jsonl'))
    expect(pairs.length).toBe(3)
    expect(pairs[0]).toMatchObject({ id: 'a', chosen: '4.', rejected: '5.', rating: 'significantly_better', safety: 'both_safe', category: 'arithmetic' })
    expect(pairs[1]).toMatchObject({ rating: 'better', safety: 'only_chosen_safe' })
    expect(pairs[2].rating).toBeUndefined()
    expect(pairs[2].safety).toBeUndefined()
    expect(pairs[2].messages).toEqual([{ role: 'user', content: 'Tell me a joke.' }])
  })

  it('names file, line and field of bad pairs, or skips and counts them', () => {
    const ok = { prompt: 'p', chosen: 'a', rejected: 'b' }
    const file = jsonl([
      ok,
      { prompt: 'p', chosen: 'a' },
      { ...ok, rating: 'much_better' },
      { ...ok, safety: 'safe' },
      { ...ok, rejected: 'a' },
      'oops',
    ])
    expect(() => readPreferencePairs(file)).toThrow(`${file}:2: field "rejected": missing`)
    const { pairs, skipped } = readPreferencePairs(file, { skipInvalid: true })
    expect(pairs.length).toBe(1)
    expect(skipped.examples).toEqual([
      `${file}:2: field "rejected": missing`,
      `${file}:3: field "rating": expected one of significantly_better, better, slightly_better, negligibly_better, got "much_better"`,
      `${file}:4: field "safety": expected one of only_chosen_safe, both_safe, both_unsafe, got "safe"`,
      `${file}:5: field "rejected": is identical to "chosen", so the pair teaches nothing`,
      expect.stringMatching(/set\.jsonl:6: not valid JSON/),
    ])
  })
})
