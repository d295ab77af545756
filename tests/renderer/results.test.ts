import { describe, it, expect } from 'vitest'
import { barPercent, barScale, groupResults, singlePointKeys } from '../../renderer/src/lib/results'

describe('evaluation results table', () => {
  it('groups breakdowns under their metric: accuracy by task kind, violation rate by category', () => {
    const groups = groupResults({
      'eval/gold_accuracy': 0.5,
      'eval/gold_accuracy_math': 0.75,
      'eval/gold_accuracy_lookup': 0.25,
      'eval/violation_rate': 0.2,
      'eval/violation_rate_violence': 0.3,
      'eval/violation_rate_multi_turn': 0.1,
      'eval/false_refusal_rate': 0.05,
    })
    expect(groups.map((g) => [g.name, g.total?.value, g.rows.map((r) => r.label)])).toEqual([
      ['eval/false_refusal_rate', 0.05, []],
      ['eval/gold_accuracy', 0.5, ['lookup', 'math']],
      ['eval/violation_rate', 0.2, ['multi_turn', 'violence']],
    ])
  })

  it('reads _lo / _hi beside a metric as its interval, not as rows', () => {
    const [group] = groupResults({ 'eval/win_rate': 0.6, 'eval/win_rate_lo': 0.5, 'eval/win_rate_hi': 0.7 })
    expect(group).toEqual({ name: 'eval/win_rate', total: { key: 'eval/win_rate', label: 'eval/win_rate', value: 0.6, lo: 0.5, hi: 0.7 }, rows: [] })
  })

  it('takes the keys logged once, and sizes bars for rates and for other values', () => {
    expect(singlePointKeys([{ key: 'a', steps: [0] }, { key: 'b', steps: [1, 2] }])).toEqual(['a'])
    const rates = groupResults({ r: 0.4, r_x: 0.8 })[0]
    expect(barScale(rates)).toBe(1)
    expect(barPercent(0.4, barScale(rates))).toBe(40)
    const losses = groupResults({ loss: 2, loss_b: 4 })[0]
    expect(barPercent(2, barScale(losses))).toBe(50)
    expect(barPercent(NaN, 1)).toBe(0)
  })
})
