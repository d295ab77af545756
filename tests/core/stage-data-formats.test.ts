// Each stage's data fields declare the kind of file they read (`.meta({ data })`), so the app's
// pickers can offer only files of that kind: one declaration per field, no per-stage rules.
import { describe, expect, it } from 'vitest'
import { listStages } from '../../core/train/stages/registry'

function formatsOf(stage: string): Record<string, string | undefined> {
  const def = listStages().find((s) => s.name === stage)
  if (!def) throw new Error(`no stage ${stage}`)
  return Object.fromEntries(def.fields.filter((f) => f.group === 'data' && f.pathKind).map((f) => [f.key, f.dataFormat]))
}

describe('data formats of stage fields', () => {
  it('names what each stage reads', () => {
    expect(formatsOf('pretrain')).toEqual({ data: 'text', tokenizer: undefined })
    expect(formatsOf('sft')).toMatchObject({ data: 'sft' })
    expect(formatsOf('reward')).toMatchObject({ data: 'preferences', eval_data: 'preferences' })
    expect(formatsOf('preferences')).toMatchObject({ data: 'preferences' })
    expect(formatsOf('ppo')).toMatchObject({ prompts: 'prompts' })
    expect(formatsOf('gold_eval')).toMatchObject({ tasks: 'prompts', adversarial: 'prompts', benign: 'prompts' })
  })

  it('leaves no data file field of any stage undeclared, except tokenizers and GAtt instructions', () => {
    const undeclared = listStages().flatMap((s) =>
      s.fields.filter((f) => f.group === 'data' && (f.pathKind === 'input' || f.pathKind === 'dataset') && !f.dataFormat).map((f) => `${s.name}.${f.key}`),
    )
    expect(undeclared.sort()).toEqual(['gatt.instructions', 'preferences.tokenizer', 'pretrain.tokenizer'])
  })
})
