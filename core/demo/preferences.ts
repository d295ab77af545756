// Preference pairs with known quality: a prompt, a better and a worse response (correct vs wrong,
// complete vs partial, polite vs rude, concise vs rambling, safe vs unsafe), labelled like the
// Llama 2 annotations: a strength from the difference of gold helpfulness, and a safety label.

import type { PairSafetyLabel, PreferencePair, PreferenceRating } from '../data/preferences'
import { goldHelpfulness, goldSafety, type GoldItem } from '../eval/gold'
import { createRng, subSeed, type Rng } from './rng'
import type { AdversarialItem, BenignItem } from './safety'

/** What the demo knows about each pair beyond the annotation (written as extra JSONL fields). */
export interface DemoPairNotes {
  /** What made the rejected one worse: 'wrong' | 'partial' | 'rude' | 'rambling' | 'unsafe' | ... */
  flaw: string
  gold_chosen: number
  gold_rejected: number
}

/** Strength of a preference from the gold helpfulness difference (chosen minus rejected). */
export function ratingFromDifference(diff: number): PreferenceRating {
  if (diff >= 0.6) return 'significantly_better'
  if (diff >= 0.35) return 'better'
  if (diff >= 0.15) return 'slightly_better'
  return 'negligibly_better'
}

/** Pairs for task items (helpfulness) and adversarial/benign items (safety). */
export function generatePreferences(seed: number, tasks: GoldItem[], adversarial: AdversarialItem[], benign: BenignItem[], idPrefix = 'pref'): PreferencePair<DemoPairNotes>[] {
  const rng = createRng(subSeed(seed, `preferences/${idPrefix}`))
  const pairs: PreferencePair<DemoPairNotes>[] = []
  const push = (item: GoldItem, chosen: string, rejected: string, flaw: string): void => {
    const pair = labelPair(item, chosen, rejected, flaw, `${idPrefix}-${pairs.length}`)
    if (pair) pairs.push(pair)
  }
  for (const item of tasks) {
    const flaw = rng.pick(['wrong', 'wrong', 'partial', 'rude', 'rambling'])
    push(item, item.reference, worsen(rng, item, flaw), flaw)
  }
  for (const item of adversarial) {
    push(item, item.reference, item.unsafeResponse, 'unsafe')
    if (rng.chance(0.3)) push(item, item.reference, plainRefusal(), 'no_redirect')
    // Both unsafe: annotators still pick one (the one with a warning); the safety RM sees a near tie.
    if (rng.chance(0.15)) push(item, `Please be careful. ${item.unsafeResponse}`, `${item.unsafeResponse} Obviously, do it fast.`, 'rude')
  }
  for (const item of benign) push(item, item.reference, plainRefusal(), 'false_refusal')
  return rng.shuffle(pairs)
}

/** Null when the "worse" response is not actually worse by the gold judge (never emitted). Also
 * labels the on-policy annotation round's pairs (onPolicyPairs.ts). */
export function labelPair(item: GoldItem, chosen: string, rejected: string, flaw: string, id: string): PreferencePair<DemoPairNotes> | null {
  const goldChosen = goldHelpfulness(item, chosen)
  const goldRejected = goldHelpfulness(item, rejected)
  const chosenSafe = goldSafety(item, chosen) === 'safe'
  const rejectedSafe = goldSafety(item, rejected) === 'safe'
  if (!chosenSafe && rejectedSafe) return null // Llama 2 drops pairs where the chosen is the unsafe one
  const safety: PairSafetyLabel = chosenSafe && rejectedSafe ? 'both_safe' : chosenSafe ? 'only_chosen_safe' : 'both_unsafe'
  const diff = goldChosen - goldRejected
  if (safety === 'both_safe' && diff <= 0) return null
  return {
    id,
    prompt: item.prompt,
    messages: item.messages,
    chosen,
    rejected,
    // A safety violation makes a pair clearly separable whatever the helpfulness says.
    rating: safety === 'only_chosen_safe' ? 'significantly_better' : ratingFromDifference(diff),
    safety,
    category: item.category,
    extra: { flaw, gold_chosen: round3(goldChosen), gold_rejected: round3(goldRejected) },
    source: 'demo world',
  }
}

function worsen(rng: Rng, item: GoldItem, flaw: string): string {
  switch (flaw) {
    case 'wrong':
      return wrongAnswer(rng, item)
    case 'partial':
      return partialAnswer(rng, item)
    case 'rude':
      return `${rng.pick(['Obviously.', 'Ugh, whatever.'])} ${item.reference} ${rng.pick(['Figure it out yourself next time.', 'That was a stupid question.'])}`
    default:
      return ramble(rng, item.reference)
  }
}

function wrongAnswer(rng: Rng, item: GoldItem): string {
  const check = item.check
  switch (check.type) {
    case 'contains': {
      const wrong = check.distractors.length > 0 ? rng.pick(check.distractors) : 'nobody'
      const right = check.answers.find((a) => item.reference.includes(a))
      return right ? item.reference.replace(right, wrong) : `I think it is ${wrong}.`
    }
    case 'number': {
      const wrong = check.value + rng.pick([-3, -2, -1, 1, 2, 10])
      return replaceLast(item.reference, String(check.value), String(wrong))
    }
    case 'exact':
      return check.answer === 'Yes' ? 'No' : check.answer === 'No' ? 'Yes' : check.answer.toLowerCase() === check.answer ? [...check.answer].sort().join('') : check.answer.toLowerCase()
    case 'list':
      return check.json ? JSON.stringify(rng.shuffle(check.items).slice(0, Math.max(1, check.items.length - 1)).concat(['Nowhere'])) : rng.shuffle(check.items).concat(check.items.slice(0, 1)).join(', ')
    case 'word_count':
      return `I am not really sure about that one.`
    case 'creative':
      return repeatLoop(item.reference)
    default:
      return 'I do not know.'
  }
}

function partialAnswer(rng: Rng, item: GoldItem): string {
  const check = item.check
  if (check.type === 'list' && check.items.length > 1) {
    const part = check.items.slice(0, check.items.length - 1)
    return check.json ? JSON.stringify(part) : part.join(', ')
  }
  if (check.type === 'creative') return item.reference.split('. ')[0] + '.'
  // No natural partial form: a vague non-answer.
  return rng.pick(['It depends.', 'That is a good question.', 'Let me think about it.'])
}

const LONG_FILLER = [
  'That is a question many people in the valley ask.',
  'There are many things one could say about it.',
  'Let me explain it in some detail, because details matter.',
  'People have talked about this for years in every town.',
  'It is always good to think carefully before answering.',
  'I hope this long explanation is useful to you in some way.',
  'Some say the weather in the valley changes everything.',
]
const SHORT_FILLER = ['Well.', 'Let me see.', 'Good question!', 'I hope that helps.', 'Here goes.', 'Right.']

/** The right answer wrapped in filler: from a word or two (a near tie) to a paragraph (clearly worse). */
function ramble(rng: Rng, reference: string): string {
  const pool = rng.chance(0.5) ? SHORT_FILLER : [...SHORT_FILLER, ...LONG_FILLER]
  const filler = rng.shuffle(pool).slice(0, rng.int(1, 6))
  const half = Math.ceil(filler.length / 2)
  return [...filler.slice(0, half), reference, ...filler.slice(half)].join(' ')
}

function repeatLoop(reference: string): string {
  const first = reference.split('. ')[0]
  return Array.from({ length: 6 }, () => first).join('. ') + '.'
}

function plainRefusal(): string {
  return "I'm sorry, but I can't help with that."
}

function replaceLast(text: string, find: string, replacement: string): string {
  const at = text.lastIndexOf(find)
  return at < 0 ? text : text.slice(0, at) + replacement + text.slice(at + find.length)
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000
}
