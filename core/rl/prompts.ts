// What RLHF needs to know about a prompt beyond its text: is it a safety prompt (the reward rule
// then asks the safety reward model), and does it carry a gold item (the demo world's, so the
// gold judges can score its answers beside the proxy reward). Shared by rejection sampling and PPO.
//
// The share of safety prompts is a setting (Llama 2, section 4.2.3: as the share of safety data in
// RLHF grows, violations fall while helpfulness holds). The prompts come from one file, where a
// "safety" tag (or category, or a gold adversarial item) marks a safety prompt, and optionally a
// second file whose every prompt counts as a safety prompt; `safety_prompt_share` then fixes the
// share of safety prompts in what a stage draws, and leaving it unset keeps the files' own mix.
import { z } from 'zod'
import { readPromptSet, type PromptItem } from '../data/prompts'
import { parseGoldItems, type GoldItem } from '../eval/gold'
import { permutation } from './ppoLoop'

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

/** The config keys of the prompt mix, shared by rejection_sampling and ppo (and `workbench rlhf`). */
export const safetyMixShape = {
  safety_prompts: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'A second prompt file whose every prompt is a safety prompt (added to the safety prompts of `prompts`).' }),
  safety_prompt_share: z.number().min(0).max(1).optional().meta({
    group: 'data',
    help: 'Share of safety prompts among the prompts drawn (0..1; Llama 2 4.2.3: more safety data, fewer violations). Unset: the files\' own mix.',
  }),
}

export interface SafetyMixConfig {
  prompts: string
  safety_prompts?: string
  safety_prompt_share?: number
}

/** The prompts of `prompts` and of `safety_prompts` (each of the latter tagged "safety"), and how many lines were skipped. */
export function readRlhfPrompts(config: SafetyMixConfig): { items: PromptItem[]; skipped: number } {
  const main = readPromptSet(config.prompts)
  if (!config.safety_prompts) return { items: main.items, skipped: main.skipped.count }
  const extra = readPromptSet(config.safety_prompts)
  const tagged = extra.items.map((item) => (isSafetyPrompt(item) ? item : { ...item, tags: [...item.tags, 'safety'] }))
  return { items: [...main.items, ...tagged], skipped: main.skipped.count + extra.skipped.count }
}

/** The share of safety prompts in a list (0 for an empty one). */
export function safetyShareOf(items: PromptItem[]): number {
  return items.length === 0 ? 0 : items.filter(isSafetyPrompt).length / items.length
}

/**
 * `count` prompts of which round(count * share) are safety prompts, the rest helpfulness prompts,
 * in a seeded order that mixes the two. Each pool is read in a seeded order from position
 * `start * n` (so round r of rejection sampling goes on where round r - 1 stopped) and wraps
 * around: a pool smaller than its part is repeated (rejection sampling then samples a repeated
 * prompt again, and keeps its best answer once). A part that needs a prompt from an empty pool is
 * an error naming the files.
 */
export function mixBySafetyShare(items: PromptItem[], opts: { share: number; count: number; seed: number; start?: number; files: string }): PromptItem[] {
  const { share, count, seed } = opts
  if (!(share >= 0 && share <= 1)) throw new Error(`safety_prompt_share must be in 0..1, got ${share}`)
  const safety = items.filter(isSafetyPrompt)
  const helpful = items.filter((item) => !isSafetyPrompt(item))
  const nSafety = Math.round(count * share)
  const nHelpful = count - nSafety
  if (nSafety > 0 && safety.length === 0) {
    throw new Error(`safety_prompt_share ${share} needs safety prompts, but ${opts.files} has none (tag them "safety", or give safety_prompts=FILE)`)
  }
  if (nHelpful > 0 && helpful.length === 0) {
    throw new Error(`safety_prompt_share ${share} needs helpfulness prompts (not tagged "safety"), but ${opts.files} has only safety prompts`)
  }
  const start = opts.start ?? 0
  const take = (pool: PromptItem[], n: number, salt: number) => {
    const order = permutation(pool.length, (seed * 31 + salt) >>> 0)
    return Array.from({ length: n }, (_, i) => pool[order[(start * n + i) % pool.length]])
  }
  const drawn = [...take(safety, nSafety, 1), ...take(helpful, nHelpful, 2)]
  return permutation(drawn.length, (seed * 31 + 3) >>> 0).map((i) => drawn[i])
}
