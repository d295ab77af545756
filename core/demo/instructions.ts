// System instructions for Ghost Attention in the demo world, each with a gold check
// (core/eval/adherence.ts): answer in one sentence, answer briefly, always mention a town of the
// world, speak as one of its people (opening every answer with their greeting). Deterministic:
// same world, same instructions.

import type { Instruction } from '../eval/adherence'
import { createRng, subSeed } from './rng'
import type { World } from './world'

/** How many towns and people the instruction set names. */
const MENTIONED_TOWNS = 2
const CHARACTERS = 2

export function generateInstructions(world: World): Instruction[] {
  const rng = createRng(subSeed(world.seed, 'instructions'))
  const towns = rng.shuffle(world.towns).slice(0, MENTIONED_TOWNS)
  const people = rng.shuffle(world.people).slice(0, CHARACTERS)
  return [
    { id: 'one-sentence', instruction: 'Answer in one sentence.', check: { type: 'one_sentence' } },
    { id: 'max-8-words', instruction: 'Answer in eight words or fewer.', check: { type: 'max_words', count: 8 } },
    ...towns.map((town): Instruction => ({
      id: `mention-${town.name.toLowerCase()}`,
      instruction: `Always mention ${town.name} in your answer.`,
      check: { type: 'mention', text: town.name },
    })),
    ...people.map((person): Instruction => ({
      id: `speak-as-${person.first.toLowerCase()}-${person.last.toLowerCase()}`,
      instruction: `Speak as ${person.name}, the ${person.job} from ${person.town}: begin every answer with "${person.first} here".`,
      check: { type: 'starts_with', text: `${person.first} here` },
    })),
  ]
}
