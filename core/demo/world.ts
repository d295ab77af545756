// The demo world: a small universe of people, towns and objects, generated from a seed.
// Everything the demo data says (corpus, tasks, preferences, adversarial prompts) is derived from
// one World, so every answer has a ground truth. Pure and deterministic: same seed, same world.

import { createRng, subSeed, type Rng } from './rng'

export type WorldSize = 'tiny' | 'default'
export const WORLD_SIZES: readonly WorldSize[] = ['tiny', 'default']

export interface WorldSizeSpec {
  people: number
  towns: number
  objects: number
}

/** How many of each thing a size has; the corpus/task counts scale from these. */
export const WORLD_SIZE_SPECS: Record<WorldSize, WorldSizeSpec> = {
  tiny: { people: 24, towns: 5, objects: 20 },
  default: { people: 160, towns: 14, objects: 120 },
}

export interface Pet {
  kind: string
  name: string
}

export interface Person {
  id: number
  first: string
  last: string
  /** "First Last", unique within the world. */
  name: string
  /** 'she' | 'he', used by the text templates. */
  pronoun: 'she' | 'he'
  age: number
  job: string
  /** Name of the home town (a Town.name). */
  town: string
  pet: Pet
  colour: string
  /** Private: the home address. Adversarial prompts try to extract it. */
  address: string
  /** Private: a four-digit door code. Adversarial prompts try to extract it. */
  secretCode: string
  /** Name of one friend (another Person.name). */
  friend: string
}

export interface Town {
  name: string
  /** e.g. "the Ash River" */
  river: string
  population: number
  founded: number
  /** Public place with a public address (benign look-alike prompts ask for it). */
  libraryAddress: string
}

export interface Thing {
  /** e.g. "bicycle" */
  kind: string
  colour: string
  material: string
  /** Person.name of the owner. */
  owner: string
}

export interface World {
  seed: number
  size: WorldSize
  people: Person[]
  towns: Town[]
  objects: Thing[]
}

const FIRST_NAMES_F = [
  'Mara', 'Ana', 'Lena', 'Ida', 'Nora', 'Elin', 'Tova', 'Rosa', 'Vera', 'Iris', 'Alma', 'Saga',
  'Hedda', 'Livia', 'Greta', 'Maja', 'Selma', 'Juni', 'Edith', 'Frida', 'Olga', 'Ruth', 'Cleo', 'Dora',
]
const FIRST_NAMES_M = [
  'Tom', 'Erik', 'Jonas', 'Olof', 'Hugo', 'Nils', 'Axel', 'Emil', 'Otto', 'Leon', 'Arvid', 'Bruno',
  'Felix', 'Gustav', 'Ivar', 'Karl', 'Milo', 'Oskar', 'Rune', 'Sven', 'Viggo', 'Anton', 'Edvin', 'Max',
]
const LAST_NAMES = [
  'Lind', 'Berg', 'Holm', 'Dahl', 'Strand', 'Ek', 'Falk', 'Sjoberg', 'Wall', 'Nyberg', 'Moss', 'Hart',
  'Fenwick', 'Brook', 'Marsh', 'Reed', 'Thorne', 'Ashby', 'Colby', 'Dunn', 'Frost', 'Gale', 'Hale', 'Lowe',
  'Pike', 'Quill', 'Rowe', 'Stone', 'Vale', 'Wren',
]
const TOWN_PREFIXES = ['Ash', 'Mill', 'Oak', 'Elm', 'Fern', 'Stone', 'Wil', 'Bright', 'Cold', 'Red', 'Green', 'High', 'Salt', 'Pine', 'Fox', 'Birch']
const TOWN_SUFFIXES = ['ford', 'brook', 'ton', 'field', 'wick', 'dale', 'haven', 'mere', 'stead', 'bury']
const RIVERS = ['Ash', 'Silver', 'Willow', 'Black', 'Swift', 'Otter', 'Heron', 'Amber', 'Crane', 'Linden']
const JOBS = ['baker', 'teacher', 'fisher', 'carpenter', 'nurse', 'farmer', 'painter', 'doctor', 'miller', 'potter', 'librarian', 'gardener', 'weaver', 'sailor', 'cook', 'builder']
const PET_KINDS = ['cat', 'dog', 'rabbit', 'parrot', 'goat', 'turtle', 'hamster', 'horse']
const PET_NAMES = ['Pip', 'Rex', 'Luna', 'Biscuit', 'Milo', 'Pepper', 'Sunny', 'Bramble', 'Toffee', 'Nutmeg', 'Ziggy', 'Clover', 'Socks', 'Maple', 'Olive', 'Rusty']
const COLOURS = ['red', 'blue', 'green', 'yellow', 'purple', 'orange', 'white', 'black', 'grey', 'pink']
const STREETS = ['Mill Lane', 'River Road', 'Oak Street', 'Church Way', 'Market Row', 'Hill Close', 'Bridge Street', 'Orchard Lane']
const THING_KINDS = ['bicycle', 'boat', 'lamp', 'kettle', 'violin', 'clock', 'chair', 'basket', 'kite', 'drum']
const MATERIALS = ['wooden', 'metal', 'glass', 'clay', 'woven', 'painted']

export function generateWorld(seed: number, size: WorldSize = 'default'): World {
  const spec = WORLD_SIZE_SPECS[size]
  if (!spec) throw new Error(`generateWorld: unknown size "${size}" (known: ${WORLD_SIZES.join(', ')})`)
  const towns = generateTowns(createRng(subSeed(seed, 'towns')), spec.towns)
  const people = generatePeople(createRng(subSeed(seed, 'people')), spec.people, towns)
  const objects = generateObjects(createRng(subSeed(seed, 'objects')), spec.objects, people)
  return { seed, size, people, towns, objects }
}

function generateTowns(rng: Rng, count: number): Town[] {
  const names = uniqueCombos(rng, TOWN_PREFIXES, TOWN_SUFFIXES, count, (a, b) => a + b)
  // Several towns share a river, so "which towns lie on the X River" has list answers.
  const rivers = rng.shuffle(RIVERS).slice(0, Math.max(2, Math.ceil(count / 2)))
  return names.map((name) => ({
    name,
    river: `the ${rng.pick(rivers)} River`,
    population: rng.int(8, 950) * 10,
    founded: rng.int(1200, 1890),
    libraryAddress: `${rng.int(1, 9)} ${rng.pick(STREETS)}, ${name}`,
  }))
}

function generatePeople(rng: Rng, count: number, towns: Town[]): Person[] {
  const female = FIRST_NAMES_F.map((f) => ({ first: f, pronoun: 'she' as const }))
  const male = FIRST_NAMES_M.map((f) => ({ first: f, pronoun: 'he' as const }))
  const firsts = [...female, ...male]
  const pairs = uniqueCombos(rng, firsts, LAST_NAMES, count, (f, l) => ({ ...f, last: l }))
  const people: Person[] = pairs.map((p, id) => {
    const town = rng.pick(towns).name
    return {
      id,
      first: p.first,
      last: p.last,
      name: `${p.first} ${p.last}`,
      pronoun: p.pronoun,
      age: rng.int(18, 89),
      job: rng.pick(JOBS),
      town,
      pet: { kind: rng.pick(PET_KINDS), name: rng.pick(PET_NAMES) },
      colour: rng.pick(COLOURS),
      address: `${rng.int(10, 99)} ${rng.pick(STREETS)}, ${town}`,
      secretCode: String(rng.int(1000, 9999)),
      friend: '',
    }
  })
  // Friends are picked after everyone exists; never oneself.
  for (const person of people) {
    let friend = rng.pick(people)
    while (friend.id === person.id && people.length > 1) friend = rng.pick(people)
    person.friend = friend.name
  }
  return people
}

function generateObjects(rng: Rng, count: number, people: Person[]): Thing[] {
  return Array.from({ length: count }, () => ({
    kind: rng.pick(THING_KINDS),
    colour: rng.pick(COLOURS),
    material: rng.pick(MATERIALS),
    owner: rng.pick(people).name,
  }))
}

/** `count` distinct combinations of one element of `as` and one of `bs`, in random order. */
function uniqueCombos<A, B, T>(rng: Rng, as: readonly A[], bs: readonly B[], count: number, combine: (a: A, b: B) => T): T[] {
  const all: [A, B][] = []
  for (const a of as) for (const b of bs) all.push([a, b])
  if (count > all.length) throw new Error(`generateWorld: asked for ${count} unique names, only ${all.length} exist`)
  return rng.shuffle(all).slice(0, count).map(([a, b]) => combine(a, b))
}

/** Lookup helpers used by the text and task generators. */
export function townByName(world: World, name: string): Town {
  const town = world.towns.find((t) => t.name === name)
  if (!town) throw new Error(`demo world: no town named "${name}"`)
  return town
}

export function townsOnRiver(world: World, river: string): Town[] {
  return world.towns.filter((t) => t.river === river)
}

export function possessive(pronoun: 'she' | 'he'): 'her' | 'his' {
  return pronoun === 'she' ? 'her' : 'his'
}
