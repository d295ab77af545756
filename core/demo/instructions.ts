// System instructions for Ghost Attention in the demo world, each with a gold check
// (core/eval/adherence.ts): answer in one sentence, answer briefly, always mention a town of the
// world, speak as one of its people (opening every answer with their greeting). Deterministic:
// same world, same instructions.

import type { ChatMessage } from '../data/chatTemplate'
import { followsInstruction, samplingTurns, type AdherenceCheck, type Instruction } from '../eval/adherence'
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

/**
 * The instruction followed within one turn, as SFT data: the instruction joined to the user turn
 * (as GAtt samples), and the reference answer made to satisfy its gold check. A model that never
 * saw an instruction cannot follow one even in the same turn, so GAtt would have nothing to keep;
 * the demo adds these lines to its SFT data (web text holds such examples too). Only
 * single-turn items whose adapted answer passes the check are used.
 */
export function instructedSftExamples(items: { messages: ChatMessage[]; reference: string }[], instructions: Instruction[]): { messages: ChatMessage[] }[] {
  const out: { messages: ChatMessage[] }[] = []
  items.forEach((item, i) => {
    if (item.messages.length !== 1 || item.messages[0].role !== 'user') return
    const instruction = instructions[i % instructions.length]
    const answer = answerFollowing(instruction.check, item.reference)
    if (!followsInstruction(instruction.check, answer)) return
    out.push({ messages: [{ role: 'user', content: samplingTurns(instruction.instruction, item.messages[0].content) }, { role: 'assistant', content: answer }] })
  })
  return out
}

/** The reference answer changed to satisfy one check: its first sentence, its first words, the town named, the greeting in front. */
function answerFollowing(check: AdherenceCheck, reference: string): string {
  const text = reference.trim()
  switch (check.type) {
    case 'one_sentence':
      return text.split(/(?<=[.!?])\s+/)[0]
    case 'max_words':
      return text.split(/\s+/).slice(0, check.count).join(' ')
    case 'mention':
      return followsInstruction(check, text) ? text : `${text} So they say in ${check.text}.`
    case 'starts_with':
      return `${check.text}: ${text}`
  }
}
