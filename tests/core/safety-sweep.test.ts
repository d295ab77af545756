// `workbench demo --safety-sweep` at tiny size with every budget cut to a few steps (issue 13): it
// trains the SFT model and the reward models once, and the starting SFT model with safety
// demonstrations, runs one rejection-sampling round per share,
// records each share in the round's config, draws that share, and reuses the foundation the next
// time. The figures themselves (violations by share) are measured at the full tiny budget and
// stated in docs/architecture.md; steps this short learn nothing worth asserting.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { findFoundation, runSafetySweep } from '../../core/demo/safetySweep'
import { DEMO_DATA_VERSION, ensureDemoExport } from '../../core/demo/export'
import { Store } from '../../core/tracking/store'

const SHORT = {
  pretrain: { max_steps: 4, eval_every: 0 },
  sft: { max_steps: 4, eval_every: 0 },
  eval: { max_new_tokens: 4 },
  reward: { max_steps: 2, eval_samples: 0 },
  rs: { max_prompts: 8, k: 2, max_new_tokens: 4, epochs: 1 },
}

describe('workbench demo --safety-sweep', () => {
  it('runs one RS round per share from the same SFT model and reward models, each share recorded and drawn', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-safety-sweep-'))
    try {
      const report = await runSafetySweep({ home, size: 'tiny', shares: [0, 0.5], overrides: SHORT })
      expect(report.reused).toBe(false)
      expect(report.rows.map((r) => [r.share, r.drawn_share])).toEqual([[0, 0], [0.5, 0.5]])
      const store = Store.open(home)
      try {
        // The start (default): an SFT model from the same pretrained model, on SFT data with safety demonstrations.
        expect(report.from).toBe('sft_safety')
        const start = store.getRun(report.runs.start)
        expect(report.runs.start).not.toBe(report.runs.sft)
        expect(start.config.base).toBe(store.getRun(report.runs.sft).config.base)
        expect((start.config.data as string[]).map((f) => path.basename(f))).toContain('sft_train_safety_demos_50.jsonl')
        for (const row of report.rows) {
          const run = store.getRun(row.run_id)
          expect(run.config.safety_prompt_share).toBe(row.share)
          expect(run.config.policy).toBe(report.runs.start)
          expect([run.config.rm_helpful, run.config.rm_safety]).toEqual([report.runs.reward_helpfulness, report.runs.reward_safety])
          expect(run.params.safety_prompts_drawn).toBe(8 * row.share)
          for (const v of Object.values(row.scores)) expect(v >= 0 && v <= 1).toBe(true)
        }
      } finally {
        store.close()
      }
      // Again: the SFT model and the reward models are found in the home, not trained again.
      const again = await runSafetySweep({ home, size: 'tiny', shares: [0.25], overrides: SHORT })
      expect(again.reused).toBe(true)
      expect(again.runs.sft).toBe(report.runs.sft)
      expect(again.runs.start).toBe(report.runs.start)
      expect(again.rows.map((r) => r.drawn_share)).toEqual([0.25])
      // An export an earlier data version left is written again, and the runs trained on it are not reused.
      const dataDir = path.join(home, 'demo', 'tiny-seed1234')
      expect(findFoundation(home, 'tiny', dataDir)?.sft).toBe(report.runs.sft)
      const manifest = path.join(dataDir, 'manifest.json')
      fs.writeFileSync(manifest, JSON.stringify({ ...JSON.parse(fs.readFileSync(manifest, 'utf8')), version: DEMO_DATA_VERSION - 1 }))
      ensureDemoExport(dataDir, 1234, 'tiny')
      expect(findFoundation(home, 'tiny', dataDir)).toBeUndefined()
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  }, 900_000)
})
