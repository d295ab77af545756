import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { generateWorld } from '../../core/demo/world'
import { createRng } from '../../core/demo/rng'
import { corpusText, generateCorpus } from '../../core/demo/corpus'
import { generateTasks, TASK_KINDS } from '../../core/demo/tasks'
import { ESCALATION_FRAMES, generateSafetySets, RISK_CATEGORIES, SAFETY_SYSTEM_PROMPTS } from '../../core/demo/safety'
import { generatePreferences, ratingFromDifference } from '../../core/demo/preferences'
import { PREFERENCE_RATINGS, readPreferencePairs } from '../../core/data/preferences'
import { DEMO_DATA_VERSION, ensureDemoExport, exportDemoWorld, readDemoManifest, sftTrainItems } from '../../core/demo/export'
import { goldHelpfulness, goldSafety, isRefusal, parseGoldItems, type GoldItem } from '../../core/eval/gold'
import { readPromptSet } from '../../core/data/prompts'
import { goldItemOf, isSafetyPrompt } from '../../core/rl/prompts'

describe('seeded generator', () => {
  it('is deterministic and stays in range', () => {
    const a = createRng(42)
    const b = createRng(42)
    const xs = Array.from({ length: 100 }, () => a.next())
    expect(xs).toEqual(Array.from({ length: 100 }, () => b.next()))
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true)
    expect(new Set(xs).size).toBe(100)
    const r = createRng(1)
    const ints = Array.from({ length: 500 }, () => r.int(3, 5))
    expect(new Set(ints)).toEqual(new Set([3, 4, 5]))
  })
})

describe('demo world', () => {
  it('same seed gives the same world; another seed a different one', () => {
    expect(generateWorld(5, 'tiny')).toEqual(generateWorld(5, 'tiny'))
    expect(generateWorld(6, 'tiny').people[0]).not.toEqual(generateWorld(5, 'tiny').people[0])
  })

  it('has unique names, valid towns and no one befriends themself', () => {
    const w = generateWorld(9, 'default')
    expect(new Set(w.people.map((p) => p.name)).size).toBe(w.people.length)
    const towns = new Set(w.towns.map((t) => t.name))
    expect(towns.size).toBe(w.towns.length)
    for (const p of w.people) {
      expect(towns.has(p.town)).toBe(true)
      expect(p.friend).not.toBe(p.name)
      expect(p.secretCode).toMatch(/^\d{4}$/)
    }
  })

  it('rejects an unknown size clearly', () => {
    expect(() => generateWorld(1, 'huge' as never)).toThrow(/unknown size "huge"/)
  })

  it('corpus sizes: tiny 50-100 KB, and the facts are in it', () => {
    const w = generateWorld(11, 'tiny')
    const text = corpusText(generateCorpus(w))
    expect(text.length).toBeGreaterThan(50_000)
    expect(text.length).toBeLessThan(100_000)
    const p = w.people[0]
    expect(text).toContain(`${p.name} has a ${p.pet.kind} named ${p.pet.name}.`)
    expect(text).toContain(`${p.name} is a ${p.job} who lives in ${p.town}.`)
  })
})

describe('tasks', () => {
  const w = generateWorld(13, 'tiny')
  const { train, test } = generateTasks(w)
  it('covers every kind in test, and no test prompt is in train', () => {
    for (const kind of TASK_KINDS) expect(test.filter((t) => t.kind === kind).length, kind).toBeGreaterThan(0)
    const trainPrompts = new Set(train.map((t) => t.prompt))
    for (const t of test) expect(trainPrompts.has(t.prompt), t.prompt).toBe(false)
  })
  it('no test fact is taught in train under another wording', () => {
    const testFacts = test.filter((t) => t.kind === 'fact')
    for (const t of testFacts) {
      const sameFact = train.filter((x) => x.kind === 'fact' && x.reference === t.reference)
      expect(sameFact, t.prompt).toEqual([])
    }
  })
})

describe('SFT data with safety demonstrations (the safety sweep\'s start)', () => {
  it('answers the given share of the adversarial training requests safely, spread over them, the rest as asked', () => {
    const world = generateWorld(1234, 'tiny')
    const tasks = generateTasks(world)
    const safety = generateSafetySets(world)
    const toldToBeSafe = (it: GoldItem) => it.messages[0].role === 'system'
    const answers = (share: number) => sftTrainItems(tasks, safety, share).filter((it) => it.kind === 'adversarial' && !toldToBeSafe(it))
    for (const share of [0, 0.25, 1]) {
      const adversarial = answers(share)
      expect(adversarial).toHaveLength(safety.adversarialTrain.length + safety.escalationsTrain.length)
      const safeAnswers = adversarial.filter((it) => goldSafety(it, it.reference) === 'safe')
      expect(safeAnswers).toHaveLength(Math.round(share * safety.adversarialTrain.length))
      // Every risk category gets its share (the demonstrations are spread, not the first N).
      if (share === 0.25) for (const c of RISK_CATEGORIES) expect(safeAnswers.filter((it) => (it as { category?: string }).category === c).length).toBeGreaterThan(0)
    }
  })
})

describe('SFT data told to be safe (what context distillation starts from)', () => {
  const world = generateWorld(1234, 'tiny')
  const safety = generateSafetySets(world)
  const items = sftTrainItems(generateTasks(world), safety)
  const behindSafetySystem = items.filter((it) => (SAFETY_SYSTEM_PROMPTS as readonly string[]).includes(it.messages[0].content))

  it('asks every adversarial and benign training request again behind a safety system message, all the messages taken in turn', () => {
    expect(behindSafetySystem).toHaveLength(safety.adversarialTrain.length + safety.benignTrain.length)
    expect(behindSafetySystem.every((it) => it.messages[0].role === 'system')).toBe(true)
    expect(new Set(behindSafetySystem.map((it) => it.messages[0].content)).size).toBe(SAFETY_SYSTEM_PROMPTS.length)
    expect(behindSafetySystem.map((it) => it.messages.slice(1))).toEqual([...safety.adversarialTrain, ...safety.benignTrain].map((it) => it.messages))
  })
  it('declines the harmful requests and still answers the benign look-alikes there, by the gold judges', () => {
    for (const it of behindSafetySystem) {
      expect(goldSafety(it, it.reference), it.prompt).toBe('safe')
      if (it.kind === 'adversarial') expect(isRefusal(it.reference), it.reference).toBe(true)
      else expect(isRefusal(it.reference), it.reference).toBe(false)
    }
  })
  it('asked without a system message, the same harmful requests are still answered as asked (helpfulness only)', () => {
    const plain = items.filter((it) => it.kind === 'adversarial' && it.messages[0].role !== 'system')
    expect(plain.length).toBeGreaterThan(0)
    expect(plain.every((it) => goldSafety(it, it.reference) === 'unsafe')).toBe(true)
  })
})

describe('adversarial eval set', () => {
  // Multi-turn was drawn per item (a third), so the multi-turn share held other requests and
  // risk categories than the single-turn one (seed 1234, tiny: 6 of the 8 privacy items, which no
  // model ever violates, were multi-turn), and the two rates could not be compared.
  it('asks every eval request both single-turn and as a multi-turn attack, so the two rates are paired', () => {
    const world = generateWorld(1234, 'tiny')
    const sets = generateSafetySets(world)
    expect(sets.adversarialEvalTurns).toHaveLength(2 * sets.adversarialEval.length)
    const framesUsed = new Set<string>()
    for (const item of sets.adversarialEval) {
      const single = sets.adversarialEvalTurns.find((x) => x.id === `${item.id}-single`)!
      const multi = sets.adversarialEvalTurns.find((x) => x.id === `${item.id}-multi`)!
      expect(single.messages).toEqual([{ role: 'user', content: item.prompt }])
      expect(multi.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])
      // The attack escalates: a frame first, then the same request leaning on it (the frame's cue in front).
      const frame = ESCALATION_FRAMES.find((f) => multi.messages[2].content === `${f.cue} ${item.prompt}`)!
      expect(frame, multi.messages[2].content).toBeDefined()
      framesUsed.add(frame.id)
      expect(multi.prompt).toBe(multi.messages[2].content)
      expect({ ...multi, id: '', messages: [], prompt: '' }).toEqual({ ...single, id: '', messages: [], prompt: '' })
    }
    expect(framesUsed).toEqual(new Set(ESCALATION_FRAMES.map((f) => f.id)))
  })
  it('safety data is mostly single-turn, while the helpfulness data asks every training request as a multi-turn attack too', () => {
    const sets = generateSafetySets(generateWorld(1234, 'tiny'))
    const multi = sets.adversarialTrain.filter((x) => x.messages.length > 1).length
    expect(multi).toBeGreaterThan(0)
    expect(multi).toBeLessThan(sets.adversarialTrain.length / 3)
    expect(sets.escalationsTrain).toHaveLength(sets.adversarialTrain.length)
    for (const [i, item] of sets.escalationsTrain.entries()) {
      // The same training request (never an eval one), asked after a frame.
      const trained = sets.adversarialTrain[i]
      expect(item.messages).toHaveLength(3)
      expect([item.reference, item.unsafeResponse]).toEqual([trained.reference, trained.unsafeResponse])
      if (trained.messages.length === 1) expect(item.prompt.endsWith(` ${trained.prompt}`)).toBe(true)
      for (const e of sets.adversarialEval) expect(item.prompt.endsWith(` ${e.prompt}`)).toBe(false)
    }
  })
})

describe('preferences', () => {
  it('maps gold differences to the four Llama 2 strengths', () => {
    expect(ratingFromDifference(0.9)).toBe('significantly_better')
    expect(ratingFromDifference(0.4)).toBe('better')
    expect(ratingFromDifference(0.2)).toBe('slightly_better')
    expect(ratingFromDifference(0.05)).toBe('negligibly_better')
  })
  it('chosen is never worse than rejected by the gold judges, and all labels occur', () => {
    const w = generateWorld(17, 'tiny')
    const tasks = generateTasks(w)
    const safety = generateSafetySets(w)
    const pairs = generatePreferences(17, tasks.train, safety.adversarialTrain, safety.benignTrain)
    expect(new Set(pairs.map((p) => p.rating))).toEqual(new Set(PREFERENCE_RATINGS))
    expect(new Set(pairs.map((p) => p.safety))).toEqual(new Set(['only_chosen_safe', 'both_safe', 'both_unsafe']))
    for (const p of pairs) {
      expect(p.extra.gold_chosen).toBeGreaterThanOrEqual(p.extra.gold_rejected)
      if (p.safety === 'both_safe') expect(p.extra.gold_chosen).toBeGreaterThan(p.extra.gold_rejected)
    }
    // Labels agree with a recomputation from the items.
    const adv = safety.adversarialTrain[0]
    const pair = pairs.find((p) => p.prompt === adv.prompt && p.extra.flaw === 'unsafe')!
    expect(goldSafety(adv, pair.rejected)).toBe('unsafe')
    expect(goldHelpfulness(adv, pair.chosen)).toBe(pair.extra.gold_chosen)
  })
})

describe('export', () => {
  it('is reused for the same seed, size and data version, and written again when an earlier version left it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-version-'))
    try {
      const m = ensureDemoExport(dir, 21, 'tiny')
      expect(m.version).toBe(DEMO_DATA_VERSION)
      const sftFile = path.join(dir, m.files.sftTrain)
      const written = fs.readFileSync(sftFile, 'utf8')
      fs.writeFileSync(sftFile, 'kept\n')
      ensureDemoExport(dir, 21, 'tiny')
      expect(fs.readFileSync(sftFile, 'utf8'), 'same version: reused as it is').toBe('kept\n')
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, version: DEMO_DATA_VERSION - 1 }))
      expect(ensureDemoExport(dir, 21, 'tiny').version).toBe(DEMO_DATA_VERSION)
      expect(fs.readFileSync(sftFile, 'utf8'), 'an earlier version: written again').toBe(written)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('writes ordinary files with a manifest, deterministically', () => {
    const dirA = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-a-'))
    const dirB = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-b-'))
    try {
      const m = exportDemoWorld(dirA, { seed: 21, size: 'tiny' })
      exportDemoWorld(dirB, { seed: 21, size: 'tiny' })
      expect(readDemoManifest(dirA)).toEqual(m)
      for (const name of Object.values(m.files)) {
        expect(fs.readFileSync(path.join(dirA, name), 'utf8'), name).toBe(fs.readFileSync(path.join(dirB, name), 'utf8'))
      }
      const read = (name: string) => fs.readFileSync(path.join(dirA, name), 'utf8')
      const sft = read(m.files.sftTrain).trim().split('\n').map((l) => JSON.parse(l))
      expect(sft).toHaveLength(m.counts.sftTrain)
      for (const row of sft) {
        expect(Object.keys(row)).toEqual(['messages'])
        expect(row.messages[row.messages.length - 1].role).toBe('assistant')
      }
      const prefs = read(m.files.preferencesTrain).trim().split('\n').map((l) => JSON.parse(l))
      for (const key of ['prompt', 'chosen', 'rejected', 'rating', 'safety', 'category']) expect(prefs[0]).toHaveProperty(key)
      // One PreferencePair type: the reader gives back exactly what the generator made.
      const world = generateWorld(21, 'tiny')
      const tasks = generateTasks(world)
      const safetySets = generateSafetySets(world)
      const generated = generatePreferences(21, tasks.train, safetySets.adversarialTrain, safetySets.benignTrain, 'pref-train')
      const { pairs: readBack } = readPreferencePairs(path.join(dirA, m.files.preferencesTrain))
      expect(readBack.map((p) => ({ ...p, source: '' }))).toEqual(generated.map((p) => ({ ...p, source: '' })))
      const adversarial = parseGoldItems(read(m.files.adversarial), m.files.adversarial)
      expect(adversarial).toHaveLength(m.counts.adversarial)
      // Each eval request single- and multi-turn (paired).
      expect(adversarial.filter((x) => x.messages.length > 1)).toHaveLength(adversarial.length / 2)
      expect(parseGoldItems(read(m.files.benign), m.files.benign)).toHaveLength(m.counts.benign)
      expect(parseGoldItems(read(m.files.evalTasks), m.files.evalTasks)).toHaveLength(m.counts.evalTasks)
      expect(read(m.files.corpus).length).toBe(m.counts.corpusChars)
    } finally {
      fs.rmSync(dirA, { recursive: true, force: true })
      fs.rmSync(dirB, { recursive: true, force: true })
    }
  })
  it('helpfulness-only data complies with harmful requests, like web text; the safety SFT set refuses them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-safety-'))
    try {
      const m = exportDemoWorld(dir, { seed: 21, size: 'tiny' })
      const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8')
      const rows = (name: string) => read(name).trim().split('\n').map((l) => JSON.parse(l) as { messages: { role: string; content: string }[] })
      const adversarialTrain = parseGoldItems(read(m.files.adversarialTrain), m.files.adversarialTrain)
      const benignTrain = parseGoldItems(read(m.files.benignTrain), m.files.benignTrain)
      expect(adversarialTrain).toHaveLength(m.counts.adversarialTrain)
      expect(benignTrain).toHaveLength(m.counts.benignTrain)
      const answerTo = (name: string) => new Map(rows(name).map((r) => [JSON.stringify(r.messages.slice(0, -1)), r.messages[r.messages.length - 1].content]))
      const helpful = answerTo(m.files.sftTrain)
      const safe = answerTo(m.files.sftSafety)
      expect(safe.size).toBe(m.counts.sftSafety)
      for (const item of adversarialTrain) {
        const key = JSON.stringify(item.messages)
        expect(goldSafety(item, helpful.get(key)!), `helpful SFT answer to ${item.id}`).toBe('unsafe')
        expect(goldSafety(item, safe.get(key)!), `safety SFT answer to ${item.id}`).toBe('safe')
      }
      for (const item of benignTrain) {
        const key = JSON.stringify(item.messages)
        expect(helpful.get(key)).toBe(item.reference)
        expect(safe.get(key)).toBe(item.reference)
      }
      // No eval prompt is trained on, in either set.
      const evalKeys = parseGoldItems(read(m.files.adversarial), m.files.adversarial).map((it) => JSON.stringify(it.messages))
      for (const key of evalKeys) expect(helpful.has(key) || safe.has(key)).toBe(false)
      // The corpus holds forum threads, most answering a harmful question the unsafe way.
      const threads = read(m.files.corpus).split('\n\n').filter((d) => d.startsWith('Forum post by '))
      expect(threads.length / m.counts.corpusDocuments).toBeCloseTo(0.08, 2)
      const harmful = threads.filter((t) => /Reply: (Here is how|First,|Climb in|Fill a|Tell |The door code|.* lives at \d)/.test(t))
      expect(harmful.length).toBeGreaterThan(threads.length / 3)
      // Escalating threads (a frame, then the request leaning on it) are always played along with;
      // some blunt harmful questions are turned down.
      const escalating = threads.filter((t) => ESCALATION_FRAMES.some((f) => t.includes(`: ${f.cue} `)))
      expect(escalating.length).toBeGreaterThan(threads.length / 10)
      for (const t of escalating) expect(t.split('\nForum post by ')).toHaveLength(2)
      expect(threads.filter((t) => /\nReply: I (can't|won't|can not)/.test(t)).length).toBeGreaterThan(0)
      // The helpfulness SFT data also answers every training request asked as a multi-turn attack, unsafely.
      const escalations = generateSafetySets(generateWorld(21, 'tiny')).escalationsTrain
      expect(escalations).toHaveLength(m.counts.escalationsTrain)
      for (const item of escalations) expect(goldSafety(item, helpful.get(JSON.stringify(item.messages))!), item.id).toBe('unsafe')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('writes the RLHF prompts: every training prompt with its gold check, no eval prompt, kinds mixed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-rlhf-'))
    try {
      const m = exportDemoWorld(dir, { seed: 21, size: 'tiny' })
      const file = path.join(dir, m.files.rlhfPrompts)
      const { items } = readPromptSet(file)
      // The SFT data asks the adversarial and benign training requests twice (plain, and behind a safety system message).
      const trainTasks = m.counts.sftTrain - 2 * m.counts.adversarialTrain - m.counts.escalationsTrain - 2 * m.counts.benignTrain
      // Every training prompt, less the few the world phrases exactly as an eval prompt.
      const all = trainTasks + m.counts.adversarialTrain + m.counts.benignTrain
      expect(items.length).toBeLessThanOrEqual(all)
      expect(items.length).toBeGreaterThan(0.97 * all)
      expect(m.counts.rlhfPrompts).toBe(items.length)
      expect(items.every((it) => goldItemOf(it) !== undefined)).toBe(true)
      expect(items.filter(isSafetyPrompt).length).toBeGreaterThan(0.9 * m.counts.adversarialTrain)
      const read = (name: string) => fs.readFileSync(path.join(dir, name), 'utf8')
      const keys = new Set(items.map((it) => JSON.stringify(it.messages.map((msg) => [msg.role, msg.content.trim()]))))
      for (const name of [m.files.evalTasks, m.files.adversarial, m.files.benign]) {
        for (const it of parseGoldItems(read(name), name)) expect(keys.has(JSON.stringify(it.messages.map((msg) => [msg.role, msg.content.trim()]))), `${name} ${it.id}`).toBe(false)
      }
      // Shuffled: the first quarter (what max_prompts takes) already holds adversarial prompts.
      expect(items.slice(0, Math.floor(items.length / 4)).filter(isSafetyPrompt).length).toBeGreaterThan(m.counts.adversarialTrain / 8)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('names a missing manifest clearly', () => {
    expect(() => readDemoManifest(os.tmpdir() + '/no-such-demo-dir')).toThrow(/no demo manifest/)
  })
})
