// Acceptance test of the demo (issue 5): the tiny pipeline runs end to end through the job runner
// (tokenizer -> pretrain -> SFT -> gold evaluation of base and SFT), every step is a recorded,
// linked run, and SFT beats the base on gold task accuracy. Takes a few minutes on 2 cores.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runDemoPipeline } from '../../core/demo/pipeline'
import { Store } from '../../core/tracking/store'

describe('workbench demo --size tiny', () => {
  it('pretrains, fine-tunes and evaluates; SFT beats the base on gold accuracy', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-pipeline-'))
    try {
      const steps: string[] = []
      const report = await runDemoPipeline({
        home,
        size: 'tiny',
        onEvent: (e) => {
          if (e.type === 'step') steps.push(e.step)
        },
      })
      expect(steps).toEqual(['export', 'tokenizer', 'pretrain', 'sft', 'eval', 'eval'])
      console.log(JSON.stringify(report, null, 2))

      expect(report.sft.gold_accuracy).toBeGreaterThan(report.base.gold_accuracy)
      for (const s of [report.base, report.sft]) {
        for (const v of Object.values(s)) {
          expect(v).toBeGreaterThanOrEqual(0)
          expect(v).toBeLessThanOrEqual(1)
        }
      }

      const store = Store.open(home)
      try {
        const runs = report.runs
        for (const id of Object.values(runs)) expect(store.getRun(id).status).toBe('finished')
        const parentsOf = (id: string) => store.getRun(id).parents.map((p) => `${p.role}:${p.runId}`)
        expect(parentsOf(runs.sft)).toContain(`base:${runs.pretrain}`)
        expect(parentsOf(runs.eval_base)).toContain(`model:${runs.pretrain}`)
        expect(parentsOf(runs.eval_sft)).toContain(`model:${runs.sft}`)
        const evalKeys = store.metricKeys(runs.eval_sft)
        for (const k of ['eval/gold_accuracy', 'eval/gold_helpfulness', 'eval/violation_rate', 'eval/false_refusal_rate']) expect(evalKeys).toContain(k)
        expect(store.listSamples(runs.eval_sft).length).toBeGreaterThan(0)
      } finally {
        store.close()
      }
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  }, 20 * 60_000)
})
