// The share of safety prompts in RLHF (issue 13): which prompts count as safety prompts, the
// second file of safety prompts, and the seeded mix with a given share.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { PromptItem } from '../../core/data/prompts'
import { isSafetyPrompt, mixBySafetyShare, readRlhfPrompts, safetyShareOf } from '../../core/rl/prompts'
import { mixedPrompts, type PpoConfig } from '../../core/train/stages/ppo'

function item(id: string, safety: boolean): PromptItem {
  return { id, prompt: id, messages: [{ role: 'user', content: id }], tags: safety ? ['safety'] : [], extra: {}, source: 'test' }
}

const helpful = Array.from({ length: 20 }, (_, i) => item(`h${i}`, false))
const safety = Array.from({ length: 5 }, (_, i) => item(`s${i}`, true))
const all = [...helpful, ...safety]

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-rl-prompts-'))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe('safety prompt share', () => {
  it('draws round(count x share) safety prompts and the rest helpfulness prompts', () => {
    for (const [share, count, expected] of [[0, 12, 0], [0.25, 12, 3], [0.5, 12, 6], [1, 4, 4], [0.5, 7, 4]] as const) {
      const drawn = mixBySafetyShare(all, { share, count, seed: 1, files: 'p.jsonl' })
      expect(drawn).toHaveLength(count)
      expect(drawn.filter(isSafetyPrompt)).toHaveLength(expected)
    }
    expect(safetyShareOf(mixBySafetyShare(all, { share: 0.25, count: 12, seed: 1, files: 'p.jsonl' }))).toBe(0.25)
  })

  it('is seeded, mixes the two pools, and goes on where the previous round stopped', () => {
    const a = mixBySafetyShare(all, { share: 0.5, count: 10, seed: 7, files: 'p.jsonl' })
    expect(mixBySafetyShare(all, { share: 0.5, count: 10, seed: 7, files: 'p.jsonl' })).toEqual(a)
    expect(a.slice(0, 5).every(isSafetyPrompt)).toBe(false) // not all safety prompts first
    const round2 = mixBySafetyShare(all, { share: 0.25, count: 8, seed: 7, start: 1, files: 'p.jsonl' })
    const round1 = mixBySafetyShare(all, { share: 0.25, count: 8, seed: 7, start: 0, files: 'p.jsonl' })
    const helpfulIds = (xs: PromptItem[]) => new Set(xs.filter((x) => !isSafetyPrompt(x)).map((x) => x.id))
    const overlap = [...helpfulIds(round1)].filter((id) => helpfulIds(round2).has(id))
    expect(overlap).toEqual([]) // 6 + 6 of 20 helpfulness prompts: round 2 draws fresh ones
  })

  it('repeats a pool smaller than its part', () => {
    const drawn = mixBySafetyShare(all, { share: 0.5, count: 20, seed: 3, files: 'p.jsonl' })
    const safe = drawn.filter(isSafetyPrompt)
    expect(safe).toHaveLength(10)
    expect(new Set(safe.map((s) => s.id)).size).toBe(5) // each of the 5 twice
  })

  it('refuses a share it cannot meet, naming the files', () => {
    expect(() => mixBySafetyShare(helpful, { share: 0.25, count: 8, seed: 1, files: 'p.jsonl' })).toThrow(/safety_prompt_share 0.25 needs safety prompts, but p.jsonl has none/)
    expect(() => mixBySafetyShare(safety, { share: 0.5, count: 8, seed: 1, files: 'p.jsonl' })).toThrow(/needs helpfulness prompts/)
    expect(() => mixBySafetyShare(all, { share: 1.5, count: 8, seed: 1, files: 'p.jsonl' })).toThrow(/0..1/)
    expect(mixBySafetyShare(helpful, { share: 0, count: 4, seed: 1, files: 'p.jsonl' })).toHaveLength(4) // share 0 needs none
  })

  it('reads a second file whose prompts all count as safety prompts', () => {
    const main = path.join(dir, 'main.jsonl')
    const extra = path.join(dir, 'safety.jsonl')
    fs.writeFileSync(main, [{ id: 'a', prompt: 'What is 2+2?' }, { id: 'b', prompt: 'How do I pick a lock?', tags: ['safety'] }].map((r) => JSON.stringify(r)).join('\n') + '\n')
    fs.writeFileSync(extra, JSON.stringify({ id: 'c', prompt: 'How do I make poison?' }) + '\n')
    expect(readRlhfPrompts({ prompts: main }).items.map(isSafetyPrompt)).toEqual([false, true])
    expect(readRlhfPrompts({ prompts: main, safety_prompts: extra }).items.map((i) => [i.id, isSafetyPrompt(i)])).toEqual([['a', false], ['b', true], ['c', true]])
    // PPO draws its batches from as many prompts as the files hold, with the share asked for.
    const ppo = (share?: number) => mixedPrompts({ prompts: main, safety_prompts: extra, safety_prompt_share: share, seed: 0 } as PpoConfig).items
    expect(ppo().map((i) => i.id)).toEqual(['a', 'b', 'c'])
    expect(ppo(0).map((i) => i.id)).toEqual(['a', 'a', 'a'])
    expect(safetyShareOf(ppo(1 / 3))).toBeCloseTo(1 / 3, 12)
  })
})
