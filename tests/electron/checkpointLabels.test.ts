import { describe, it, expect } from 'vitest'
import { bestByEvalLoss, checkpointLabel } from '../../electron/server/services/files'

describe('checkpoint labels in the pickers', () => {
  // The training loop flags each checkpoint that beat the ones before it as best, so a run that
  // kept improving had every checkpoint labelled "best".
  const saved = [
    { kind: 'checkpoint', step: 20, meta: { eval_loss: 3.4, best: true } },
    { kind: 'checkpoint', step: 40, meta: { eval_loss: 3.165, best: true } },
    { kind: 'checkpoint', step: 60, meta: { eval_loss: 3.2, best: false } },
    { kind: 'checkpoint', step: 80, meta: { eval_loss: null, best: false } },
  ]

  it('labels only the lowest eval loss as best, by its metric, and the rest by step', () => {
    const best = bestByEvalLoss(saved)
    expect(best?.step).toBe(40)
    const labels = saved.map((a) => checkpointLabel('tiny', 'pretrain', a, a === best))
    expect(labels).toEqual(['tiny (pretrain) · step 20', 'tiny (pretrain) · step 40 · best, eval loss 3.165', 'tiny (pretrain) · step 60', 'tiny (pretrain) · step 80'])
  })

  it('names no best when no checkpoint has an eval loss', () => {
    expect(bestByEvalLoss([{ kind: 'checkpoint', step: 5, meta: { best: true } }])).toBeUndefined()
    expect(checkpointLabel('m', 'sft', { kind: 'model', step: null, meta: {} }, false)).toBe('m (sft) · final model')
  })
})
