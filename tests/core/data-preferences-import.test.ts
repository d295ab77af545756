// The preference importers on fixtures written in each format's exact shape (tests/fixtures/preferences),
// including multi-turn conversations, the real HH-RLHF quirks and every malformed case.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import zlib from 'node:zlib'
import { readPreferenceList } from '../../core/data/preferences/read'
import { detectFormat } from '../../core/data/preferences/detect'
import { parseHhTranscript } from '../../core/data/preferences/hh'
import { PreferenceStatsBuilder, lengthSummary } from '../../core/data/preferences/stats'
import { PairWriter } from '../../core/data/preferences/output'
import { streamJsonLines } from '../../core/data/preferences/lines'

const dir = path.join(__dirname, '..', 'fixtures', 'preferences')
const fixture = (name: string) => path.join(dir, name)

describe('HH-RLHF importer', () => {
  it('splits the shared conversation from the two last answers, multi-turn kept', async () => {
    const { list, format } = await readPreferenceList(fixture('hh.jsonl'), { format: 'hh' })
    expect(format).toBe('hh')
    expect(list).toHaveLength(4)
    expect(list[0]).toMatchObject({
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
      prompt: 'What is the capital of France?',
      chosen: 'The capital of France is Paris.',
      rejected: 'I think it is Lyon.',
      source: `${fixture('hh.jsonl')}:1`,
    })
    // Multi-turn: alternating user/assistant up to the last user turn; trailing whitespace trimmed.
    expect(list[1].messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
    expect(list[1].messages[1].content).toBe('Sure. Do you have flour, water, salt and yeast?')
    expect(list[1].chosen).toBe('Mix them, knead for ten minutes, let it rise, then bake at 230C.')
    expect(list[1].rejected).toBe('Buy bread instead.')
    expect(list[1].prompt).toBe('Yes, all of them.')
  })

  it('keeps the real data quirks: empty final answers, no leading blank line, same-speaker turns merged', async () => {
    const { list } = await readPreferenceList(fixture('hh.jsonl'), { format: 'hh' })
    expect(list[2].rejected).toBe('')
    expect(list[2].chosen).toMatch(/^I can't help/)
    expect(list[3].messages).toEqual([{ role: 'user', content: 'Tell me a joke.\n\nAbout cats, please.' }])
  })

  it('names file, line and field for every malformed line, and counts them with skipInvalid', async () => {
    const file = fixture('hh-malformed.jsonl')
    await expect(readPreferenceList(file, { format: 'hh' })).rejects.toThrow(`${file}:2: field "rejected": the conversation before the last "Assistant:" turn differs from "chosen"'s (turn 1 differs)`)
    const { list, skipped } = await readPreferenceList(file, { format: 'hh', skipInvalid: true })
    expect(list.map((p) => p.source)).toEqual([`${file}:1`, `${file}:8`])
    expect(skipped.count).toBe(6)
    expect(skipped.examples).toEqual([
      expect.stringContaining(`${file}:2: field "rejected": the conversation before`),
      `${file}:3: field "chosen": no "Assistant:" turn, so there is no answer to compare`,
      `${file}:4: field "rejected": its last answer is identical to "chosen"'s, so the pair teaches nothing`,
      expect.stringMatching(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:5: not valid JSON`)),
      `${file}:6: field "rejected": missing`,
      `${file}:7: field "chosen": the transcript ends with a "Human:" turn, not with the answer`,
    ])
  })

  it('reads .jsonl.gz through zlib, streaming, with the same pairs', async () => {
    const plain = await readPreferenceList(fixture('hh.jsonl'))
    const gz = await readPreferenceList(fixture('hh.jsonl.gz'))
    expect(gz.format).toBe('hh')
    expect(gz.list.map(({ source: _s, ...p }) => p)).toEqual(plain.list.map(({ source: _s, ...p }) => p))
  })

  it('parses transcripts marker by marker', () => {
    const where = { file: 'x' }
    expect(parseHhTranscript('\n\nHuman:Hi\n\nAssistant:  Hello \n\n', where)).toEqual([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }])
    expect(() => parseHhTranscript('Hello there', where)).toThrow('x: no "Human:" or "Assistant:" turn')
    expect(() => parseHhTranscript('Preamble\n\nHuman: Hi', where)).toThrow('text before the first "Human:" turn')
  })
})

describe('TRL importer', () => {
  it('reads standard and conversational pairs, explicit and implicit prompts, with margins and scores', async () => {
    // The file mixes all four shapes; its first line (a standard explicit prompt) is also valid
    // workbench JSONL, which auto detection prefers, so the format is named here.
    const { list, format } = await readPreferenceList(fixture('trl.jsonl'), { format: 'trl' })
    expect(format).toBe('trl')
    expect(list[0]).toMatchObject({ messages: [{ role: 'user', content: 'The sky is' }], chosen: ' blue.', rejected: ' green.' })
    // Implicit standard prompt: the common beginning, the space going with the answers (as TRL does).
    expect(list[1]).toMatchObject({ messages: [{ role: 'user', content: 'The sky is' }], chosen: ' blue.', rejected: ' green.', extra: { margin: 2.5 } })
    expect(list[2].messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user'])
    expect(list[2]).toMatchObject({ prompt: 'Another?', chosen: 'Blue.', rejected: 'Red.', extra: { score_chosen: 8, score_rejected: 3.5 } })
    expect(list[3]).toMatchObject({ messages: [{ role: 'user', content: 'What colour is the sky?' }], chosen: 'It is blue.', rejected: 'It is green.' })
  })

  it('names every malformed line', async () => {
    const file = fixture('trl-malformed.jsonl')
    const { list, skipped } = await readPreferenceList(file, { format: 'trl', skipInvalid: true })
    expect(list).toHaveLength(1)
    expect(skipped.examples).toEqual([
      `${file}:2: field "rejected": implicit prompt: the turns before the last answer differ from "chosen"'s`,
      `${file}:3: field "rejected": is identical to "chosen", so the pair teaches nothing`,
      `${file}:4: field "margin": expected a number, got a string`,
      `${file}:5: field "chosen": expected one assistant turn after an explicit prompt, got 2 turn(s) (assistant, assistant)`,
      `${file}:6: field "prompt[0].role": expected one of system, user, assistant, got "robot"`,
    ])
  })
})

describe('workbench importer and format detection', () => {
  it('reads ratings, safety labels and multi-turn messages', async () => {
    const { list, format } = await readPreferenceList(fixture('workbench.jsonl'))
    expect(format).toBe('workbench')
    expect(list.map((p) => p.rating)).toEqual(['significantly_better', 'better', 'slightly_better', 'negligibly_better'])
    expect(list[2].safety).toBe('only_chosen_safe')
    expect(list[1].messages).toHaveLength(3)
  })

  it('rejects unknown ratings and labels by line', async () => {
    const file = fixture('workbench-malformed.jsonl')
    const { skipped } = await readPreferenceList(file, { skipInvalid: true })
    expect(skipped.examples).toEqual([
      `${file}:2: field "rating": expected one of significantly_better, better, slightly_better, negligibly_better, got "much_better"`,
      `${file}:3: field "safety": expected one of only_chosen_safe, both_safe, both_unsafe, got "maybe"`,
      `${file}:4: field "rejected": is identical to "chosen", so the pair teaches nothing`,
    ])
  })

  it('detects each format from its first valid record', async () => {
    expect(detectFormat({ chosen: '\n\nHuman: a\n\nAssistant: b', rejected: '\n\nHuman: a\n\nAssistant: c' })).toBe('hh')
    expect(detectFormat({ chosen: [], rejected: [] })).toBe('trl')
    expect(detectFormat({ prompt: 'a', chosen: 'b', rejected: 'c', margin: 1 })).toBe('trl')
    expect(detectFormat({ prompt: 'a', chosen: 'b', rejected: 'c', rating: 'better' })).toBe('workbench')
    expect(detectFormat({ question: 'a' })).toBeUndefined()
    const file = fixture('unknown.jsonl')
    await expect(readPreferenceList(file)).rejects.toThrow(`${file}:1: cannot tell the format from this line (fields: question, answer)`)
    // With skipInvalid the undecidable line is skipped and the next one decides.
    const { format, list, skipped } = await readPreferenceList(file, { skipInvalid: true })
    expect([format, list.length, skipped.count]).toEqual(['hh', 1, 1])
  })

  it('fails clearly on a missing file, a corrupt .gz and a file with no valid pairs', async () => {
    await expect(readPreferenceList('/nonexistent/p.jsonl')).rejects.toThrow('/nonexistent/p.jsonl: file does not exist')
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-prefs-'))
    const bad = path.join(tmp, 'bad.jsonl.gz')
    fs.writeFileSync(bad, 'not gzip at all')
    await expect(readPreferenceList(bad)).rejects.toThrow(`${bad}:1: cannot read the file (incorrect header check)`)
    const empty = path.join(tmp, 'junk.jsonl')
    fs.writeFileSync(empty, 'nope\n')
    await expect(readPreferenceList(empty, { skipInvalid: true })).rejects.toThrow(`${empty}: no valid preference pairs (1 line(s) skipped)`)
    const badUtf8 = path.join(tmp, 'latin1.jsonl')
    fs.writeFileSync(badUtf8, Buffer.concat([Buffer.from('{"prompt": "caf'), Buffer.from([0xe9]), Buffer.from('", "chosen": "a", "rejected": "b"}\n')]))
    await expect(readPreferenceList(badUtf8)).rejects.toThrow(`${badUtf8}:1: not valid UTF-8`)
  })

  it('streams lines across chunk boundaries and a last line without a newline', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-prefs-'))
    const file = path.join(tmp, 'big.jsonl.gz')
    const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ prompt: `q${i} ` + 'x'.repeat(i % 97), chosen: `yes ${i}`, rejected: `no ${i}` }))
    fs.writeFileSync(file, zlib.gzipSync(lines.join('\n')))
    let n = 0
    for await (const r of streamJsonLines(file)) {
      n++
      expect('value' in r && r.where.line === n).toBe(true)
    }
    expect(n).toBe(3000)
  })
})

describe('statistics and writing', () => {
  it('counts turns, ratings, labels, empty answers and length percentiles', async () => {
    const stats = new PreferenceStatsBuilder((t) => t.split(/\s+/).filter(Boolean).length)
    for (const file of ['hh.jsonl', 'workbench.jsonl']) for (const p of (await readPreferenceList(fixture(file))).list) stats.add(p)
    const s = stats.finish(2)
    expect(s.pairs).toBe(8)
    expect(s.turns).toEqual({ 1: 6, 2: 2 })
    expect(s.ratings).toEqual({ significantly_better: 1, better: 1, slightly_better: 1, negligibly_better: 1, none: 4 })
    expect(s.safety).toEqual({ only_chosen_safe: 1, both_safe: 2, both_unsafe: 0, none: 5 })
    expect(s.emptyAnswers).toBe(1)
    expect(s.skipped).toBe(2)
    expect(s.tokens?.chosen.max).toBeGreaterThan(0)
    expect(lengthSummary([5, 1, 4, 2, 3])).toEqual({ p10: 1, p50: 3, p90: 5, p99: 5, max: 5, mean: 3 })
  })

  it('writes the workbench and TRL formats so they read back as the same pairs', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-prefs-'))
    const { list } = await readPreferenceList(fixture('workbench.jsonl'))
    for (const format of ['workbench', 'trl'] as const) {
      const out = path.join(tmp, `${format}.jsonl`)
      const writer = new PairWriter(out, format)
      list.forEach((p) => writer.write(p))
      writer.close()
      const back = await readPreferenceList(out)
      expect(back.format).toBe(format)
      expect(back.list.map((p) => [p.id, p.messages, p.chosen, p.rejected])).toEqual(list.map((p) => [p.id, p.messages, p.chosen, p.rejected]))
      if (format === 'workbench') expect(back.list.map((p) => [p.rating, p.safety])).toEqual(list.map((p) => [p.rating, p.safety]))
    }
  })
})
