// What RLHF needs to know about a prompt beyond its text: is it a safety prompt (the reward rule
// then asks the safety reward model), and does it carry a gold item (the demo world's, so the
// gold judges can score its answers beside the proxy reward). Shared by rejection sampling and PPO.
import type { PromptItem } from '../data/prompts'
import { parseGoldItems, type GoldItem } from '../eval/gold'

/** A safety prompt: category or tag "safety", or a gold item of kind "adversarial" (the demo world's). */
export function isSafetyPrompt(item: PromptItem): boolean {
  return item.category === 'safety' || item.tags.includes('safety') || item.extra.kind === 'adversarial'
}

/** The gold item a prompt carries (a `gold` field, as the demo's eval sets), else undefined. */
export function goldItemOf(item: PromptItem): GoldItem | undefined {
  if (item.extra.gold === undefined) return undefined
  const line = JSON.stringify({ id: item.id, prompt: item.prompt, messages: item.messages, category: item.category ?? '', kind: 'task', ...item.extra })
  return parseGoldItems(line, item.source)[0]
}
