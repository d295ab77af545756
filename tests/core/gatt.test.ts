// Ghost Attention: the loss mask (zero on every earlier turn, checked token by token against the
// chat template), the adherence checks on hand-written answers, the demo's instruction set, the
// adherence measure over 20 turns, and the stage end to end on a tiny model.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { resolveConfig } from '../../core/config/schema'
import { encodeChat, loadSftData, type ChatMessage } from '../../core/data'
import { generateInstructions } from '../../core/demo/instructions'
import { DISTILL_DEMO_PLANS, writeDistillDemoFiles } from '../../core/demo/distillDemo'
import { readPromptSet } from '../../core/data/prompts'
import { generateWorld } from '../../core/demo/world'
import { followsInstruction, GENERIC_INSTRUCTIONS, measureAdherence, parseInstruction, readInstructions, samplingTurns, type AdherenceCheck } from '../../core/eval/adherence'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { loadModel } from '../../core/model/load'
import { Tokenizer } from '../../core/tokenizer'
import { MemoryTracker } from '../../core/tracking/tracker'
import { getStage } from '../../core/train/stages/registry'
import { ATTENTION_ARTIFACT, trainingDialogue } from '../../core/train/stages/gatt'
import { systemAttentionMap, type SystemAttentionMap } from '../../core/eval/systemAttention'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'

const QUESTIONS = ['Who is the baker of Millford?', 'What colour is the boat?', 'Where does Mara live?', 'How old is Tom?', 'Name a river.']

let backend: BackendInfo
let dir: string
let tokenizer: Tokenizer
let baseDir: string
let sftFile: string

beforeAll(async () => {
  backend = await initBackend()
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-gatt-'))
  tokenizer = Tokenizer.train([[...QUESTIONS, 'Answer in one sentence. Mara here. Millford is on the river.'].join(' ')], { vocabSize: 300 })
  const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 128 }, 0)
  baseDir = path.join(dir, 'base')
  await saveCheckpoint(baseDir, { config: model.config, weights: model.weights, tokenizer })
  model.dispose()
  sftFile = path.join(dir, 'sft.jsonl')
  fs.writeFileSync(sftFile, QUESTIONS.map((q) => JSON.stringify({ prompt: q, response: 'Yes.' })).join('\n') + '\n')
})

describe('GAtt loss mask', () => {
  it('is zero on every earlier turn, token by token against the chat template', () => {
    const dialogue = trainingDialogue('Answer in one sentence.', ['Who is the baker?', 'Where does Mara live?'], ['Mara is.', 'In Millford.'])
    expect(dialogue.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant'])
    const { tokens, lossMask } = encodeChat(tokenizer, dialogue, { lossOn: 'last_assistant' })
    const s = tokenizer.special
    const enc = (text: string) => tokenizer.encode(text)
    // The template spelled out, each piece with the mask it must have.
    const pieces: [number[], number][] = [
      [[s.bos], 0],
      [[s.system], 0], [enc('Answer in one sentence.'), 0], [[s.end_of_turn], 0],
      [[s.user], 0], [enc('Who is the baker?'), 0], [[s.end_of_turn], 0],
      [[s.assistant], 0], [enc('Mara is.'), 0], [[s.end_of_turn], 0], // the earlier answer: no loss
      [[s.user], 0], [enc('Where does Mara live?'), 0], [[s.end_of_turn], 0],
      [[s.assistant], 0], [enc('In Millford.'), 1], [[s.end_of_turn], 1], // the last answer and its end
      [[s.eos], 0],
    ]
    const expectedTokens = pieces.flatMap(([ids]) => ids)
    const expectedMask = pieces.flatMap(([ids, m]) => ids.map(() => m))
    expect(tokens).toEqual(expectedTokens)
    expect(lossMask).toEqual(expectedMask)
    // SFT's default mask learns both answers: the difference is exactly the earlier answer's tokens.
    const sft = encodeChat(tokenizer, dialogue)
    expect(sft.tokens).toEqual(tokens)
    const learnedOnlyBySft = sft.lossMask.map((m, i) => m - lossMask[i]).reduce((a, b) => a + b, 0)
    expect(learnedOnlyBySft).toBe(enc('Mara is.').length + 1)
  })

  it('the instruction is joined to every user turn for sampling, and kept only as the first (system) turn for training', () => {
    expect(samplingTurns('Answer in one sentence.', 'Who?')).toBe('Answer in one sentence. Who?')
    const dialogue = trainingDialogue('Answer in one sentence.', ['Who?', 'Where?'], ['A.', 'B.'])
    expect(dialogue.filter((m) => m.content.includes('Answer in one sentence.'))).toEqual([{ role: 'system', content: 'Answer in one sentence.' }])
    expect(() => trainingDialogue('x', ['a'], [])).toThrow(/0 answers for 1 user turns/)
  })
})

describe('adherence checks', () => {
  const cases: [AdherenceCheck, string, boolean][] = [
    [{ type: 'one_sentence' }, 'Mara is the baker of Millford.', true],
    [{ type: 'one_sentence' }, 'Mara is the baker', true],
    [{ type: 'one_sentence' }, 'She said "hi." ', true],
    [{ type: 'one_sentence' }, 'Mara is the baker. She lives in Millford.', false],
    [{ type: 'one_sentence' }, 'Yes! It is.', false],
    [{ type: 'one_sentence' }, '   ', false],
    [{ type: 'max_words', count: 3 }, 'In Millford, yes.', true],
    [{ type: 'max_words', count: 3 }, 'She lives in Millford.', false],
    [{ type: 'mention', text: 'Millford' }, 'She lives in millford now.', true],
    [{ type: 'mention', text: 'Millford' }, 'She lives in Millfordshire.', false],
    [{ type: 'mention', text: 'Oak Haven' }, 'Past oak  haven, then left.', true],
    [{ type: 'mention', text: 'Millford' }, 'She lives by the river.', false],
    [{ type: 'starts_with', text: 'Mara here' }, 'Mara here: the boat is red.', true],
    [{ type: 'starts_with', text: 'Mara here' }, '"Mara here," she said.', true],
    [{ type: 'starts_with', text: 'Mara here' }, 'The boat is red. Mara here.', false],
    [{ type: 'starts_with', text: 'Mara here' }, 'Marahere, hello.', false],
  ]
  it.each(cases)('%j on %j -> %s', (check, answer, expected) => {
    expect(followsInstruction(check, answer)).toBe(expected)
  })

  it('instruction files: round trip, and errors that name the line and field', () => {
    const file = path.join(dir, 'instructions.jsonl')
    fs.writeFileSync(file, GENERIC_INSTRUCTIONS.map((i) => JSON.stringify(i)).join('\n') + '\n\n')
    expect(readInstructions(file)).toEqual(GENERIC_INSTRUCTIONS)
    expect(() => parseInstruction('{"instruction": "x", "check": {"type": "rhyme"}}', 'f:3')).toThrow('f:3: field "check.type" must be one of one_sentence, max_words, mention, starts_with')
    expect(() => parseInstruction('{"check": {"type": "one_sentence"}}', 'f:1')).toThrow('f:1: field "instruction" must be a non-empty string')
    expect(() => parseInstruction('{"instruction": "x", "check": {"type": "max_words", "count": 0}}', 'f:2')).toThrow('f:2: field "check.count" must be a positive integer')
    expect(() => parseInstruction('{"instruction": "x", "check": {"type": "mention"}}', 'f:2')).toThrow('f:2: field "check.text" must be a non-empty string')
  })

  it("the demo's instructions name the world's towns and people, and their own examples pass their checks", () => {
    const world = generateWorld(7, 'tiny')
    const instructions = generateInstructions(world)
    expect(instructions).toEqual(generateInstructions(generateWorld(7, 'tiny')))
    const mention = instructions.filter((i) => i.check.type === 'mention')
    const persona = instructions.filter((i) => i.check.type === 'starts_with')
    expect(mention.length).toBeGreaterThan(0)
    expect(persona.length).toBeGreaterThan(0)
    for (const i of mention) expect(world.towns.map((t) => t.name)).toContain((i.check as { text: string }).text)
    for (const i of persona) {
      const first = (i.check as { text: string }).text.replace(' here', '')
      expect(world.people.some((p) => p.first === first && i.instruction.includes(p.name))).toBe(true)
      expect(followsInstruction(i.check, `${first} here, hello.`)).toBe(true)
    }
  })
})

describe('demo files', () => {
  // Before: seq_len 128 for 8 (tiny) and 20 (default) measured turns; the measure could reach turn 2.
  it("the demo's GAtt context holds the measured dialogue when every answer takes its whole budget", () => {
    for (const plan of Object.values(DISTILL_DEMO_PLANS)) {
      const g = plan.gatt as { seq_len: number; eval_turns: number; eval_max_new_tokens: number }
      // Per turn: the answer, a user turn of at least one token, and four role / end-of-turn tokens; then the system turn.
      expect(g.seq_len).toBeGreaterThanOrEqual(g.eval_turns * (g.eval_max_new_tokens + 5) + 20)
    }
  })
  it('instructed SFT lines follow their instruction in the same turn; distillation prompts are the adversarial training set, not the evaluation one', () => {
    const out = path.join(dir, 'demo-files')
    const files = writeDistillDemoFiles(out, 7, 'tiny')
    const instructions = readInstructions(files.instructions)
    expect(instructions).toEqual(generateInstructions(generateWorld(7, 'tiny')))
    const lines = fs.readFileSync(files.instructedSft, 'utf8').trim().split('\n').map((l) => JSON.parse(l).messages as ChatMessage[])
    expect(lines.length).toBeGreaterThan(50)
    for (const [user, answer] of lines) {
      const instruction = instructions.find((i) => user.content.startsWith(i.instruction + ' '))!
      expect(instruction).toBeDefined()
      expect(followsInstruction(instruction.check, answer.content)).toBe(true)
    }
    expect(new Set(lines.map(([user]) => instructions.find((i) => user.content.startsWith(i.instruction))!.id)).size).toBe(instructions.length)
    const prompts = readPromptSet(files.distillPrompts).items
    expect(prompts.length).toBeGreaterThan(0)
    for (const p of prompts) {
      expect(p.id).toMatch(/^adv-[a-z]+-train-\d+$/)
      expect(p.extra.kind).toBe('adversarial')
      expect(p.category).toBeDefined()
    }
  })
})

describe('adherence measure', () => {
  // Before: past the context the oldest turns after the instruction were dropped, so every
  // "turn 20" answer had the instruction two or three turns back and no model could lose it.
  it('ends a dialogue when it no longer fits the context, never dropping the turns between the instruction and the answer', async () => {
    const { model, tokenizer: tok } = loadModel(baseDir)
    const result = await measureAdherence(model, tok, GENERIC_INSTRUCTIONS, QUESTIONS, { turns: 20, dialoguesPerInstruction: 1, maxNewTokens: 6, seed: 0 })
    model.dispose()
    expect(result.counts).toHaveLength(20)
    expect(result.counts[0]).toBe(GENERIC_INSTRUCTIONS.length)
    // 20 turns of about 10 tokens each cannot fit 128 tokens: the last turns are never reached.
    expect(result.counts[19]).toBe(0)
    expect(result.byTurn[19]).toBeNaN()
    for (let t = 1; t < 20; t++) expect(result.counts[t]).toBeLessThanOrEqual(result.counts[t - 1])
    result.byTurn.forEach((share, t) => {
      if (result.counts[t] > 0) expect(share * result.counts[t]).toBe(Math.round(share * result.counts[t]))
    })
  })
})

describe('system attention map', () => {
  const dialogue: ChatMessage[] = [
    { role: 'system', content: 'Answer in one sentence.' },
    { role: 'user', content: 'Who is the baker of Millford?' },
    { role: 'assistant', content: 'Mara here.' },
    { role: 'user', content: 'Where does Mara live?' },
    { role: 'assistant', content: 'Millford is on the river.' },
  ]

  it('with uniform attention (zero queries), gives each token 1 / (i + 1) per key: the system share and the binned maxima by hand', () => {
    const base = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 128 }, 5)
    const weights = Object.fromEntries(Object.entries(base.weights).map(([name, w]) => [name, name.endsWith('q_proj.weight') ? w.mul(0) : w]))
    const model = Llama.fromWeights(base.config, weights)
    const map = systemAttentionMap(model, tokenizer, dialogue, 8)
    const enc = (text: string) => tokenizer.encode(text).length
    const sys = 3 + enc('Answer in one sentence.')
    const second = sys + 2 + enc('Who is the baker of Millford?') + 2 + enc('Mara here.')
    const total = second + 2 + enc('Where does Mara live?') + 2 + enc('Millford is on the river.') + 1 // </s>
    expect({ tokens: map.tokens, systemTokens: map.systemTokens, turnStarts: map.turnStarts }).toEqual({ tokens: total, systemTokens: sys, turnStarts: [sys, second] })
    // Query i attends 1 / (i + 1) to each of its i + 1 keys: min(i + 1, sys) / (i + 1) of it to the system message.
    const share = (from: number, to: number) => {
      let sum = 0
      for (let i = from; i < to; i++) sum += Math.min(i + 1, sys) / (i + 1)
      return sum / (to - from)
    }
    expect(map.systemShareByTurn[0]).toBeCloseTo(share(sys, second), 3)
    expect(map.systemShareByTurn[1]).toBeCloseTo(share(second, total), 3)
    // A cell's maximum is its row bin's first query, 1 / (first + 1), at and below the diagonal; 0 above.
    const bt = map.binTokens
    expect(bt).toBe(Math.ceil(total / 8))
    map.matrix.forEach((row, r) => row.forEach((cell, c) => expect(cell, `cell ${r},${c}`).toBeCloseTo(c <= r ? 1 / (r * bt + 1) : 0, 3)))
    tf.dispose(Object.values(weights))
    base.dispose()
  })

  it("gives the model's attention probabilities: causal, each row summing to 1, one [1, H, T, T] per layer", () => {
    const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 128 }, 6)
    const tokens = tf.tensor2d([[1, 5, 9, 2, 7, 3]], [1, 6], 'int32')
    const maps = model.attentionProbabilities(tokens)
    expect(maps.map((m) => m.shape)).toEqual([[1, 4, 6, 6], [1, 4, 6, 6]])
    for (const m of maps) {
      const p = m.arraySync()[0]
      for (const head of p) {
        head.forEach((row, i) => {
          expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5)
          row.forEach((x, j) => { if (j > i) expect(x).toBe(0) })
        })
      }
    }
    tf.dispose([tokens, ...maps])
    expect(() => systemAttentionMap(model, tokenizer, dialogue.slice(1))).toThrow(/must open with a system message/)
    model.dispose()
  })
})

describe('gatt stage', () => {
  it('samples dialogues, trains on the last answer with the instruction in the first turn only, and measures adherence with and without', async () => {
    const stage = getStage('gatt')
    const instructions = path.join(dir, 'lenient.jsonl')
    // An instruction a random model satisfies (any answer of at most 50 words), so dialogues survive the gold filter.
    fs.writeFileSync(instructions, JSON.stringify({ id: 'short', instruction: 'Answer in one sentence.', check: { type: 'max_words', count: 50 } }) + '\n')
    const config = resolveConfig(stage.schema, {
      base: baseDir, data: [sftFile], instructions, dialogues: 4, max_turns: 3, max_new_tokens: 6,
      eval_turns: 3, eval_dialogues: 1, eval_max_new_tokens: 4,
      max_steps: 2, batch_size: 2, val_fraction: 0, sample_count: 0, checkpoint_every: 0, eval_every: 0,
    })
    const runDir = path.join(dir, 'runs', 'gatt')
    fs.mkdirSync(runDir, { recursive: true })
    const tracker = new MemoryTracker('gatt', dir)
    const ctx: StageContext = { runId: 'gatt', tracker, signal: new AbortController().signal, runDir, home: dir, parents: [], seed: 0, backend, log: () => {}, progress: () => {} }
    const result = await stage.run(ctx, config)
    expect(result.summary.steps).toBe(2)
    expect(Number(result.summary.gatt_dialogues) + Number(result.summary.gatt_dropped)).toBe(4)

    const file = path.join(runDir, 'gatt_dialogues.jsonl')
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { messages: ChatMessage[]; unfinished?: boolean })
    const dialogues = lines.map((l) => l.messages)
    expect(dialogues.length).toBe(result.summary.gatt_dialogues)
    for (const d of dialogues) {
      expect(d[0]).toEqual({ role: 'system', content: 'Answer in one sentence.' })
      for (const m of d.slice(1)) expect(m.content).not.toContain('Answer in one sentence.')
      for (const m of d.filter((m) => m.role === 'user')) expect(QUESTIONS).toContain(m.content)
    }
    // What the stage trains on: loss on the last answer only; a last answer cut at max_new_tokens
    // (4 here: most are) without its end-of-turn token.
    expect(lines.some((l) => l.unfinished)).toBe(true)
    const data = loadSftData({ paths: file, tokenizer, seqLen: 128, lossOn: 'last_assistant' })
    for (const [i, ex] of data.train.entries()) {
      const expected = encodeChat(tokenizer, dialogues[i], { lossOn: 'last_assistant', openEnd: lines[i].unfinished === true })
      expect(Array.from(ex.lossMask)).toEqual(expected.lossMask)
      const learned = Array.from(ex.tokens).filter((_, t) => ex.lossMask[t] === 1)
      expect(learned[learned.length - 1] === tokenizer.special.end_of_turn).toBe(lines[i].unfinished !== true)
      const lastAssistant = Array.from(ex.tokens).lastIndexOf(tokenizer.special.assistant)
      expect(Array.from(ex.lossMask.subarray(0, lastAssistant + 1)).every((m) => m === 0)).toBe(true)
    }
    const gattMetrics = tracker.metrics.filter((m) => m.key.startsWith('gatt/'))
    expect(gattMetrics.map((m) => `${m.step} ${m.key}`)).toEqual([
      ...[1, 2, 3].map((n) => `0 gatt/base_adherence_turn_${n}`),
      ...[1, 2, 3].map((n) => `2 gatt/adherence_turn_${n}`),
    ])
    expect(typeof result.summary.adherence_mean).toBe('number')
    expect(typeof result.summary.base_adherence_mean).toBe('number')
    // The attention maps of each model's first measured dialogue, without and with GAtt.
    const artifact = tracker.artifacts.find((a) => a.kind === ATTENTION_ARTIFACT)!
    const report = JSON.parse(fs.readFileSync(path.join(runDir, 'attention_map.json'), 'utf8')) as { instruction: string; base: SystemAttentionMap; gatt: SystemAttentionMap }
    expect(artifact.meta).toEqual(report)
    expect(report.instruction).toBe('Answer in one sentence.')
    for (const map of [report.base, report.gatt]) {
      expect(map.systemTokens).toBe(3 + tokenizer.encode('Answer in one sentence.').length)
      expect(map.turnStarts.length).toBeGreaterThan(0)
      expect(map.systemShareByTurn.length).toBe(map.turnStarts.length)
      expect(map.matrix.length).toBe(Math.ceil(map.tokens / map.binTokens))
      for (const share of map.systemShareByTurn) expect(share > 0 && share <= 1).toBe(true)
    }
  })
  it('with every_turn, trains on every turn of each sampled dialogue: one training dialogue per prefix, loss on its last answer', async () => {
    const stage = getStage('gatt')
    const instructions = path.join(dir, 'lenient-every-turn.jsonl')
    fs.writeFileSync(instructions, JSON.stringify({ id: 'short', instruction: 'Answer in one sentence.', check: { type: 'max_words', count: 50 } }) + '\n')
    const config = resolveConfig(stage.schema, {
      base: baseDir, data: [sftFile], instructions, dialogues: 3, max_turns: 3, max_new_tokens: 4, every_turn: true,
      eval_turns: 0, max_steps: 1, batch_size: 2, val_fraction: 0, sample_count: 0, checkpoint_every: 0, eval_every: 0,
    })
    const runDir = path.join(dir, 'runs', 'gatt-every-turn')
    fs.mkdirSync(runDir, { recursive: true })
    const ctx: StageContext = { runId: 'gatt-every-turn', tracker: new MemoryTracker('gatt-every-turn', dir), signal: new AbortController().signal, runDir, home: dir, parents: [], seed: 0, backend, log: () => {}, progress: () => {} }
    const result = await stage.run(ctx, config)
    const dialogues = fs.readFileSync(path.join(runDir, 'gatt_dialogues.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).messages as ChatMessage[])
    // One line per kept turn (a dialogue of n turns gives n lines), each line a prefix of its dialogue's last one.
    expect(dialogues).toHaveLength(Number(result.summary.gatt_turns))
    expect(Number(result.summary.gatt_turns)).toBeGreaterThan(Number(result.summary.gatt_dialogues))
    let expectedTurns = 1
    for (const [i, d] of dialogues.entries()) {
      const turns = (d.length - 1) / 2
      expect(turns).toBe(expectedTurns)
      const next = dialogues[i + 1]
      if (next && (next.length - 1) / 2 === turns + 1) {
        expect(next.slice(0, d.length)).toEqual(d)
        expectedTurns++
      } else expectedTurns = 1
    }
  })
})
