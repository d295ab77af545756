// English text about the demo world, the pretraining corpus: encyclopedia-style entries, short
// stories, dialogues and little counting stories (so digits appear in context). Every sentence is
// true in the world, so a pretrained model can later be asked about it.

import { createRng, subSeed, type Rng } from './rng'
import { possessive, townByName, type Person, type World, type WorldSize } from './world'

/** Target corpus size in characters (≈ bytes; the text is ASCII). */
export const CORPUS_TARGET_CHARS: Record<WorldSize, number> = {
  tiny: 70_000,
  default: 1_000_000,
}

/** The corpus as a list of documents (separated by blank lines when written to a file). */
export function generateCorpus(world: World, targetChars = CORPUS_TARGET_CHARS[world.size]): string[] {
  const rng = createRng(subSeed(world.seed, 'corpus'))
  const docs: string[] = []
  let chars = 0
  const add = (doc: string): void => {
    docs.push(doc)
    chars += doc.length + 2
  }
  // Every fact appears at least once, in encyclopedia form.
  for (const town of world.towns) add(townEntry(world, town.name))
  for (const person of world.people) add(personEntry(person))
  for (const person of world.people) add(objectsEntry(world, person))
  // Then varied text until the target size is reached.
  const writers = [story, dialogue, countingStory, personEntryShuffled, story, dialogue]
  while (chars < targetChars) {
    const person = rng.pick(world.people)
    add(rng.pick(writers)(rng, world, person))
  }
  return docs
}

export function corpusText(docs: string[]): string {
  return docs.join('\n\n') + '\n'
}

function townEntry(world: World, name: string): string {
  const town = townByName(world, name)
  const residents = world.people.filter((p) => p.town === name).map((p) => p.name)
  const lines = [
    `${town.name} is a town on ${town.river}.`,
    `${town.name} was founded in ${town.founded} and has a population of ${town.population}.`,
    `The library of ${town.name} is at ${town.libraryAddress}.`,
  ]
  if (residents.length > 0) lines.push(`People who live in ${town.name} include ${joinAnd(residents.slice(0, 6))}.`)
  return lines.join(' ')
}

function personEntry(p: Person): string {
  const His = capitalise(possessive(p.pronoun))
  return [
    `${p.name} is a ${p.job} who lives in ${p.town}.`,
    `${capitalise(p.pronoun)} is ${p.age} years old.`,
    `${His} favourite colour is ${p.colour}.`,
    `${p.name} has a ${p.pet.kind} named ${p.pet.name}.`,
    `${His} best friend is ${p.friend}.`,
    `${p.name} lives at ${p.address}, and the door code of the house is ${p.secretCode}.`,
  ].join(' ')
}

/** The same facts in a different order and wording, so the model sees each fact several ways. */
function personEntryShuffled(rng: Rng, _world: World, p: Person): string {
  const his = possessive(p.pronoun)
  const sentences = rng.shuffle([
    `The ${p.pet.kind} of ${p.name} is called ${p.pet.name}.`,
    `${p.name} works as a ${p.job}.`,
    `${p.name} likes the colour ${p.colour} best.`,
    `${p.name} is ${p.age} years old.`,
    `${p.name} lives in ${p.town} with ${his} ${p.pet.kind}.`,
    `${p.friend} is a good friend of ${p.name}.`,
  ])
  return sentences.join(' ')
}

function objectsEntry(world: World, p: Person): string {
  const owned = world.objects.filter((o) => o.owner === p.name)
  if (owned.length === 0) return `${p.name} does not own anything special.`
  return owned.map((o) => `${p.name} owns a ${o.colour} ${o.material} ${o.kind}.`).join(' ')
}

function story(rng: Rng, world: World, p: Person): string {
  const town = townByName(world, p.town)
  const he = p.pronoun
  const his = possessive(p.pronoun)
  const opening = rng.pick([
    `One morning, ${p.name} walked along ${town.river} in ${p.town}.`,
    `On a rainy day in ${p.town}, ${p.name} stayed at home.`,
    `Every summer, ${p.name} visits the market in ${p.town}.`,
    `It was a quiet evening in ${p.town} when ${p.name} finished work.`,
  ])
  const middle = rng.pick([
    `${capitalise(he)} took ${his} ${p.pet.kind} ${p.pet.name} along, and ${p.pet.name} was happy.`,
    `${capitalise(he)} met ${p.friend}, and they talked about the work of a ${p.job}.`,
    `${capitalise(he)} wore a ${p.colour} coat, because ${p.colour} is ${his} favourite colour.`,
    `${capitalise(he)} fed ${p.pet.name} the ${p.pet.kind} and then sat by the window.`,
  ])
  const ending = rng.pick([
    `At the end of the day, ${p.name} went home and slept well.`,
    `${p.name} smiled, because life as a ${p.job} in ${p.town} is good.`,
    `Then ${he} walked home with ${p.pet.name}.`,
    `Later, ${p.friend} came to visit, and they had tea together.`,
  ])
  return `${opening} ${middle} ${ending}`
}

function dialogue(rng: Rng, _world: World, p: Person): string {
  const friendFirst = p.friend.split(' ')[0]
  const exchanges = rng.shuffle([
    [`${friendFirst}: How is ${p.pet.name}?`, `${p.first}: ${p.pet.name} the ${p.pet.kind} is very well, thank you.`],
    [`${friendFirst}: Are you still working as a ${p.job}?`, `${p.first}: Yes, I am still a ${p.job} in ${p.town}.`],
    [`${friendFirst}: What colour should I paint the fence?`, `${p.first}: Paint it ${p.colour}, that is my favourite colour.`],
    [`${friendFirst}: How old are you now?`, `${p.first}: I am ${p.age} years old.`],
  ]).slice(0, 2)
  return [`${p.first}: Hello ${friendFirst}!`, ...exchanges.flat(), `${friendFirst}: See you soon. Say hello to your ${p.pet.kind} for me.`].join('\n')
}

/** Small arithmetic in context, so the digits and the words "more" / "gave away" carry meaning. */
function countingStory(rng: Rng, _world: World, p: Person): string {
  const fruit = rng.pick(['apples', 'pears', 'plums', 'eggs', 'books', 'coins'])
  const a = rng.int(2, 40)
  const b = rng.int(1, 30)
  if (rng.chance(0.5)) {
    return `${p.name} had ${a} ${fruit} and got ${b} more, so ${p.pronoun} had ${a + b} ${fruit}. ${a} + ${b} = ${a + b}.`
  }
  const [big, small] = a >= b ? [a, b] : [b, a]
  return `${p.name} had ${big} ${fruit} and gave ${small} away, so ${p.pronoun} had ${big - small} ${fruit} left. ${big} - ${small} = ${big - small}.`
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

export function joinAnd(items: string[]): string {
  if (items.length <= 1) return items.join('')
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`
}
