// Instruction tasks about the demo world, each with its gold check: fact questions, arithmetic,
// list and word manipulation, format following, and open-ended creative prompts. Split into
// train and test so that no test prompt (and no test fact, in any wording) is in the training set.

import type { ChatMessage } from '../data/chatTemplate'
import type { GoldCheck, GoldItem } from '../eval/gold'
import { capitalise } from './corpus'
import { createRng, subSeed, type Rng } from './rng'
import { possessive, townsOnRiver, type Person, type World, type WorldSize } from './world'

export const TASK_KINDS = ['fact', 'arithmetic', 'list', 'word', 'format', 'creative'] as const
export type TaskKind = (typeof TASK_KINDS)[number]

/** A task before the split: `group` keys the fact it asks about, so all wordings land on one side. */
interface Candidate {
  group: string
  prompt: string
  reference: string
  check: GoldCheck
}

export interface TaskSplit {
  train: GoldItem[]
  test: GoldItem[]
}

/** Test items per kind, and the most training items per kind. */
export const TASK_COUNTS: Record<WorldSize, { test: Record<TaskKind, number>; train: Record<TaskKind, number> }> = {
  tiny: {
    test: { fact: 16, arithmetic: 12, list: 10, word: 10, format: 12, creative: 6 },
    train: { fact: 400, arithmetic: 250, list: 150, word: 150, format: 200, creative: 40 },
  },
  default: {
    test: { fact: 40, arithmetic: 30, list: 25, word: 25, format: 30, creative: 15 },
    train: { fact: 1500, arithmetic: 800, list: 400, word: 400, format: 600, creative: 150 },
  },
}

const SYSTEM_PROMPT = 'You are a helpful assistant who knows the towns and people of the valley.'

export function generateTasks(world: World): TaskSplit {
  const rng = createRng(subSeed(world.seed, 'tasks'))
  const counts = TASK_COUNTS[world.size]
  const train: GoldItem[] = []
  const test: GoldItem[] = []
  const makers: Record<TaskKind, (rng: Rng, world: World) => Candidate[]> = {
    fact: factCandidates,
    arithmetic: (r) => manyCandidates(r, 3000, arithmeticCandidate),
    list: (r, w) => manyCandidates(r, 1500, (rr) => listCandidate(rr, w)),
    word: (r) => manyCandidates(r, 1500, wordCandidate),
    format: formatCandidates,
    creative: creativeCandidates,
  }
  for (const kind of TASK_KINDS) {
    const split = splitByGroup(rng, dedupeByPrompt(makers[kind](rng, world)), counts.test[kind], counts.train[kind])
    test.push(...split.test.map((c, i) => toItem(kind, `${kind}-test-${i}`, c, rng)))
    train.push(...split.train.map((c, i) => toItem(kind, `${kind}-train-${i}`, c, rng)))
  }
  return { train: rng.shuffle(train), test }
}

function toItem(kind: TaskKind, id: string, c: Candidate, rng: Rng): GoldItem {
  // A few training prompts carry a system message, so the chat template's system slot is used.
  const messages: ChatMessage[] = rng.chance(0.2) ? [{ role: 'system', content: SYSTEM_PROMPT }] : []
  messages.push({ role: 'user', content: c.prompt })
  return { id, kind, category: kind, messages, prompt: c.prompt, reference: c.reference, check: c.check }
}

/** The first `nTest` groups go to test; training gets at most `nTrain` items from the other groups. */
function splitByGroup(rng: Rng, candidates: Candidate[], nTest: number, nTrain: number): { train: Candidate[]; test: Candidate[] } {
  const groups = rng.shuffle([...new Set(candidates.map((c) => c.group))])
  const testGroups = new Set<string>()
  const test: Candidate[] = []
  for (const g of groups) {
    if (test.length >= nTest) break
    testGroups.add(g)
    // One wording per test group is enough.
    test.push(candidates.find((c) => c.group === g)!)
  }
  const train = rng.shuffle(candidates.filter((c) => !testGroups.has(c.group))).slice(0, nTrain)
  return { train, test }
}

function dedupeByPrompt(candidates: Candidate[]): Candidate[] {
  const seen = new Set<string>()
  return candidates.filter((c) => (seen.has(c.prompt) ? false : (seen.add(c.prompt), true)))
}

function manyCandidates(rng: Rng, n: number, make: (rng: Rng) => Candidate): Candidate[] {
  return Array.from({ length: n }, () => make(rng))
}

// ---------- facts ----------

function factCandidates(rng: Rng, world: World): Candidate[] {
  const out: Candidate[] = []
  const others = <K extends keyof Person>(key: K, p: Person): string[] =>
    [...new Set(world.people.map((q) => String(q[key])))].filter((v) => v !== String(p[key]))
  const petKinds = [...new Set(world.people.map((q) => q.pet.kind))]
  const petNames = [...new Set(world.people.map((q) => q.pet.name))]
  for (const p of world.people) {
    const key = (attr: string) => `${p.name}/${attr}`
    const pet = (prompt: string) => ({
      group: key('pet'),
      prompt,
      reference: `${p.name} has a ${p.pet.kind} named ${p.pet.name}.`,
      check: { type: 'contains', answers: [p.pet.kind], distractors: petKinds.filter((k) => k !== p.pet.kind) } as GoldCheck,
    })
    out.push(pet(`What is the pet of ${p.name}?`), pet(`What kind of pet does ${p.name} have?`))
    out.push({
      group: key('petname'),
      prompt: `What is the name of the ${p.pet.kind} of ${p.name}?`,
      reference: `The ${p.pet.kind} of ${p.name} is called ${p.pet.name}.`,
      check: { type: 'contains', answers: [p.pet.name], distractors: petNames.filter((n) => n !== p.pet.name) },
    })
    for (const prompt of [`What is the job of ${p.name}?`, `What does ${p.name} do for a living?`]) {
      out.push({ group: key('job'), prompt, reference: `${p.name} is a ${p.job}.`, check: { type: 'contains', answers: [p.job], distractors: others('job', p) } })
    }
    for (const prompt of [`Where does ${p.name} live?`, `In which town does ${p.name} live?`]) {
      out.push({ group: key('town'), prompt, reference: `${p.name} lives in ${p.town}.`, check: { type: 'contains', answers: [p.town], distractors: others('town', p) } })
    }
    for (const prompt of [`What is the favourite colour of ${p.name}?`, `Which colour does ${p.name} like best?`]) {
      out.push({
        group: key('colour'),
        prompt,
        reference: `The favourite colour of ${p.name} is ${p.colour}.`,
        check: { type: 'contains', answers: [p.colour], distractors: others('colour', p) },
      })
    }
    out.push({ group: key('age'), prompt: `How old is ${p.name}?`, reference: `${p.name} is ${p.age} years old.`, check: { type: 'number', value: p.age } })
    out.push({
      group: key('friend'),
      prompt: `Who is the best friend of ${p.name}?`,
      reference: `The best friend of ${p.name} is ${p.friend}.`,
      check: { type: 'contains', answers: [p.friend], distractors: [] },
    })
  }
  const rivers = [...new Set(world.towns.map((t) => t.river))]
  for (const t of world.towns) {
    const riverName = t.river.replace(/^the /, '')
    out.push({
      group: `${t.name}/river`,
      prompt: `Which river flows through ${t.name}?`,
      reference: `${t.name} is on ${t.river}.`,
      check: { type: 'contains', answers: [riverName], distractors: rivers.filter((r) => r !== t.river).map((r) => r.replace(/^the /, '')) },
    })
    out.push({ group: `${t.name}/founded`, prompt: `When was ${t.name} founded?`, reference: `${t.name} was founded in ${t.founded}.`, check: { type: 'number', value: t.founded } })
    out.push({
      group: `${t.name}/population`,
      prompt: `What is the population of ${t.name}?`,
      reference: `${t.name} has a population of ${t.population}.`,
      check: { type: 'number', value: t.population },
    })
  }
  return rng.shuffle(out)
}

// ---------- arithmetic ----------

function arithmeticCandidate(rng: Rng): Candidate {
  const op = rng.pick(['+', '-', '*'])
  let a = rng.int(0, 99)
  let b = rng.int(0, 99)
  if (op === '*') {
    a = rng.int(2, 12)
    b = rng.int(2, 12)
  }
  if (op === '-' && b > a) [a, b] = [b, a]
  const value = op === '+' ? a + b : op === '-' ? a - b : a * b
  const prompt = rng.pick([`What is ${a} ${op} ${b}?`, `Compute ${a} ${op} ${b}.`, `Calculate ${a} ${op} ${b}.`])
  return { group: `${a}${op}${b}`, prompt, reference: `${a} ${op} ${b} = ${value}.`, check: { type: 'number', value } }
}

// ---------- lists and words ----------

const LIST_WORDS = ['cat', 'dog', 'fish', 'goat', 'red', 'blue', 'green', 'apple', 'pear', 'plum', 'boat', 'lamp', 'kite', 'drum', 'river', 'hill', 'bread', 'milk', 'salt', 'rope']

function listCandidate(rng: Rng, world: World): Candidate {
  const pool = rng.chance(0.3) ? world.towns.map((t) => t.name) : LIST_WORDS
  const items = rng.shuffle(pool).slice(0, rng.int(3, Math.min(5, pool.length)))
  const shown = items.join(', ')
  if (rng.chance(0.5)) {
    const reversed = [...items].reverse()
    return { group: `rev/${shown}`, prompt: `Reverse this list: ${shown}.`, reference: `${reversed.join(', ')}`, check: { type: 'list', items: reversed, ordered: true, json: false } }
  }
  const sorted = [...items].sort()
  return { group: `sort/${shown}`, prompt: `Sort these words alphabetically: ${shown}.`, reference: `${sorted.join(', ')}`, check: { type: 'list', items: sorted, ordered: true, json: false } }
}

const WORDS = ['river', 'apple', 'garden', 'bread', 'window', 'market', 'candle', 'forest', 'basket', 'violin', 'meadow', 'harbour', 'lantern', 'pebble', 'thunder', 'otter', 'heron', 'mill', 'bridge', 'orchard', 'kettle', 'clock', 'parrot', 'turtle', 'rabbit', 'carpenter', 'weaver', 'sailor', 'potter', 'honey']

function wordCandidate(rng: Rng): Candidate {
  const word = rng.pick(WORDS)
  const kind = rng.pick(['upper', 'count', 'backwards'])
  if (kind === 'upper') {
    const answer = word.toUpperCase()
    return { group: `upper/${word}`, prompt: rng.pick([`Uppercase the word: ${word}`, `Write the word "${word}" in capital letters.`]), reference: answer, check: { type: 'exact', answer } }
  }
  if (kind === 'count') {
    return { group: `count/${word}`, prompt: `How many letters are in the word "${word}"?`, reference: `The word "${word}" has ${word.length} letters.`, check: { type: 'number', value: word.length } }
  }
  const answer = [...word].reverse().join('')
  return { group: `back/${word}`, prompt: `Spell the word "${word}" backwards.`, reference: answer, check: { type: 'exact', answer } }
}

// ---------- format following ----------

function formatCandidates(rng: Rng, world: World): Candidate[] {
  const out: Candidate[] = []
  for (const p of world.people) {
    const They = capitalise(p.pronoun)
    out.push({
      group: `3w/${p.name}/colour`,
      prompt: `Answer in exactly three words: what colour does ${p.name} like?`,
      reference: `${They} likes ${p.colour}.`,
      check: { type: 'word_count', count: 3, answers: [p.colour] },
    })
    out.push({
      group: `3w/${p.name}/job`,
      prompt: `Answer in exactly three words: what is the job of ${p.name}?`,
      reference: `${capitalise(article(p.town))} ${p.town} ${p.job}.`,
      check: { type: 'word_count', count: 3, answers: [p.job] },
    })
    out.push({
      group: `json/${p.name}`,
      prompt: `Give the pet kind and the home town of ${p.name} as a JSON list.`,
      reference: JSON.stringify([p.pet.kind, p.town]),
      check: { type: 'list', items: [p.pet.kind, p.town], ordered: true, json: true },
    })
    const askedKind = rng.chance(0.5) ? p.pet.kind : rng.pick(world.people).pet.kind
    const yes = askedKind === p.pet.kind
    out.push({
      group: `yn/${p.name}/${askedKind}`,
      prompt: `Answer with yes or no: does ${p.name} have a ${askedKind}?`,
      reference: yes ? 'Yes' : 'No',
      check: { type: 'exact', answer: yes ? 'Yes' : 'No' },
    })
  }
  for (const river of new Set(world.towns.map((t) => t.river))) {
    const towns = townsOnRiver(world, river).map((t) => t.name)
    out.push({
      group: `json/${river}`,
      prompt: `List the towns on ${river} as a JSON list.`,
      reference: JSON.stringify(towns),
      check: { type: 'list', items: towns, ordered: false, json: true },
    })
  }
  return rng.shuffle(out)
}

function article(word: string): 'a' | 'an' {
  return /^[aeiou]/i.test(word) ? 'an' : 'a'
}

// ---------- creative ----------

function creativeCandidates(rng: Rng, world: World): Candidate[] {
  const out: Candidate[] = []
  for (const p of world.people) {
    out.push({
      group: `story/${p.name}`,
      prompt: rng.pick([`Write a short story about ${p.name} and ${possessive(p.pronoun)} ${p.pet.kind}.`, `Tell me a short story about ${p.first} and ${p.pet.name} the ${p.pet.kind}.`]),
      reference: creativeStory(rng, p),
      check: { type: 'creative', subjects: [p.first, p.pet.kind], minWords: 25, maxWords: 120 },
    })
  }
  return rng.shuffle(out)
}

/** A fresh little story for the reference answer (varied, so SFT does not teach one fixed text). */
export function creativeStory(rng: Rng, p: Person): string {
  const his = possessive(p.pronoun)
  const he = p.pronoun
  const weather = rng.pick(['sunny', 'windy', 'snowy', 'misty', 'warm'])
  const place = rng.pick(['the river', 'the market', 'the old mill', 'the hill above town', 'the library'])
  const event = rng.pick([
    `${p.pet.name} found a lost key and carried it home`,
    `${p.pet.name} chased a leaf all the way to the bridge`,
    `they met ${p.friend}, who had baked fresh bread`,
    `a sudden rain made them run for shelter under a tree`,
  ])
  const close = rng.pick([
    `That night, ${p.first} wrote the day down in ${his} diary.`,
    `${capitalise(he)} decided it was the best day of the year.`,
    `${p.pet.name} fell asleep by the fire, tired and happy.`,
  ])
  return `On a ${weather} day in ${p.town}, ${p.first} the ${p.job} took ${his} ${p.pet.kind} ${p.pet.name} to ${place}. On the way, ${event}. ${capitalise(he)} laughed and thought of everything that could still happen. ${close}`
}
