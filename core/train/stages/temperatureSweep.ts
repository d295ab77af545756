// Stage `temperature_sweep`: how a checkpoint's answers change with the sampling temperature
// (Llama 2 Figure 21): N answers per prompt at each temperature, on a factual and a creative prompt
// set. The paper's finding to look for: on creative prompts diversity keeps rising with the
// temperature, while factual answers stay the same (and stay correct) up to a point.
// Recorded per temperature T (metric step = round(T * 100), so a chart's x axis reads T x 100):
//   sweep/distinct_1_<set>, sweep/distinct_2_<set>  distinct-n over a prompt's N answers, averaged
//   sweep/self_bleu_<set>                           Self-BLEU of a prompt's N answers, averaged
//   sweep/gold_accuracy_<set>, sweep/gold_helpfulness_<set>  for prompts with gold items
//   sweep/reward_<set>                              mean reward, when a reward model is given
// with <set> 'factual' or 'creative'.
import { z } from 'zod'
import { readPromptSet, type PromptItem } from '../../data/prompts'
import { distinctN, selfBleu } from '../../eval/diversity'
import { goldCorrect, goldHelpfulness, hasExactAnswer } from '../../eval/gold'
import { scoreConversations } from '../../eval/rewardScore'
import { loadModel } from '../../model/load'
import { goldItemOf } from '../../rl/prompts'
import { parentCheckpoint } from './common'
import { defineStage, type StageContext, type StageResult } from './types'
import { answerPrompts, type Answer } from './winrate'

const TEMPERATURES = /^\s*\d+(\.\d+)?(\s*,\s*\d+(\.\d+)?)*\s*$/

const schema = z
  .object({
    model: z.string().optional().meta({ group: 'model', path: 'model', help: 'The checkpoint to sample from: a run id or a checkpoint folder.' }),
    factual: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Factual prompts (JSONL); items of kind "creative" in it are left out (so the demo\'s eval_tasks.jsonl serves both sets).' }),
    creative: z.string().optional().meta({ group: 'data', path: 'input', data: 'prompts', help: 'Creative prompts (JSONL); when items carry a kind or category, only "creative" ones are used.' }),
    temperatures: z.string().regex(TEMPERATURES, 'expected a comma-separated list of numbers, e.g. "0.1,0.5,1.0"').default('0.1,0.3,0.5,0.7,0.9,1.1,1.3,1.5').meta({ group: 'sampling', help: 'Temperatures to sample at (comma-separated).' }),
    samples: z.number().int().min(2).max(64).default(4).meta({ group: 'sampling', help: 'Answers per prompt at each temperature (diversity is measured among them).' }),
    max_prompts: z.number().int().min(0).default(0).meta({ group: 'data', help: 'Use at most this many prompts per set (0 = all).' }),
    max_new_tokens: z.number().int().min(1).default(48).meta({ group: 'sampling', help: 'New tokens per answer (it stops at the end-of-turn token).' }),
    rm: z.string().optional().meta({ group: 'model', path: 'model', help: 'A reward model to score the answers with (optional): a reward run id or folder.' }),
  })
  .strict()

export type TemperatureSweepConfig = z.output<typeof schema>

export function parseTemperatures(text: string): number[] {
  return text.split(',').map((t) => Number(t.trim()))
}

function kindOf(item: PromptItem): string | undefined {
  return typeof item.extra.kind === 'string' ? item.extra.kind : item.category
}

/** The two prompt sets: a creative set keeps creative items when kinds are given, a factual one drops them. */
export function sweepSets(config: TemperatureSweepConfig): { name: 'factual' | 'creative'; items: PromptItem[] }[] {
  const sets: { name: 'factual' | 'creative'; items: PromptItem[] }[] = []
  const limit = (items: PromptItem[]) => (config.max_prompts > 0 ? items.slice(0, config.max_prompts) : items)
  if (config.factual) {
    const items = readPromptSet(config.factual).items.filter((i) => kindOf(i) !== 'creative')
    if (items.length === 0) throw new Error(`temperature_sweep: ${config.factual} holds no factual prompts (all are of kind "creative")`)
    sets.push({ name: 'factual', items: limit(items) })
  }
  if (config.creative) {
    const all = readPromptSet(config.creative).items
    const items = all.some((i) => kindOf(i) !== undefined) ? all.filter((i) => kindOf(i) === 'creative') : all
    if (items.length === 0) throw new Error(`temperature_sweep: ${config.creative} holds no prompts of kind "creative"`)
    sets.push({ name: 'creative', items: limit(items) })
  }
  if (sets.length === 0) throw new Error('temperature_sweep: give a factual prompt set, a creative one, or both')
  return sets
}

const mean = (values: number[]) => {
  const finite = values.filter((v) => Number.isFinite(v))
  return finite.length === 0 ? NaN : finite.reduce((s, v) => s + v, 0) / finite.length
}

/** The figures of one set at one temperature: `answers[p]` are prompt p's N answers. */
export function sweepFigures(set: string, items: PromptItem[], answers: string[][], rewards?: number[][]): Record<string, number> {
  const out: Record<string, number> = {}
  const put = (name: string, value: number) => {
    if (Number.isFinite(value)) out[`sweep/${name}_${set}`] = value
  }
  put('distinct_1', mean(answers.map((a) => distinctN(a, 1))))
  put('distinct_2', mean(answers.map((a) => distinctN(a, 2))))
  put('self_bleu', mean(answers.map((a) => selfBleu(a))))
  const gold = items.map(goldItemOf)
  const exact = items.flatMap((_, p) => (gold[p] && hasExactAnswer(gold[p]) ? answers[p].map((a) => Number(goldCorrect(gold[p]!, a))) : []))
  put('gold_accuracy', mean(exact))
  put('gold_helpfulness', mean(items.flatMap((_, p) => (gold[p] ? answers[p].map((a) => goldHelpfulness(gold[p]!, a)) : []))))
  if (rewards) put('reward', mean(rewards.flat()))
  return out
}

async function run(ctx: StageContext, config: TemperatureSweepConfig): Promise<StageResult> {
  const dir = parentCheckpoint(ctx, 'model', config.model, 'model')
  if (!dir) throw new Error('temperature_sweep needs a model: set model=<run id or checkpoint folder>')
  const rmDir = parentCheckpoint(ctx, 'judge', config.rm, 'rm')
  const sets = sweepSets(config)
  const temperatures = parseTemperatures(config.temperatures)
  const n = config.samples
  const summary: Record<string, number | string | boolean> = { temperatures: temperatures.length, samples: n }
  const { model, tokenizer } = loadModel(dir)
  const rm = rmDir ? loadModel(rmDir, { heads: ['reward'], scoringOnly: true }) : undefined
  try {
    let done = 0
    for (const [t, temperature] of temperatures.entries()) {
      for (const set of sets) {
        if (ctx.signal.aborted) return { stopped: true, summary }
        // N rows per prompt; prompt p's row j samples with its own seed at every temperature.
        const rows = set.items.flatMap((item) => Array.from({ length: n }, () => item))
        const seeds = rows.map((_, r) => ctx.seed * 1_000_003 + r)
        const flat: Answer[] = await answerPrompts(model, tokenizer, rows, { seeds, temperature, maxNewTokens: config.max_new_tokens, signal: ctx.signal })
        const answers = set.items.map((_, p) => flat.slice(p * n, (p + 1) * n).map((a) => a.text))
        let rewards: number[][] | undefined
        if (rm) {
          const scores = await scoreConversations({ model: rm.model, head: rm.heads.reward! }, rm.tokenizer, rows.map((item, r) => ({ messages: item.messages, answer: flat[r].text })))
          rewards = set.items.map((_, p) => scores.slice(p * n, (p + 1) * n))
        }
        const figures = sweepFigures(set.name, set.items, answers, rewards)
        ctx.tracker.logMetrics(Math.round(temperature * 100), figures)
        ctx.tracker.logSample({ step: Math.round(temperature * 100), prompt: `[${set.name}, T=${temperature}] ${set.items[0].prompt}`, response: answers[0].join('\n---\n'), scores: figures })
        if (t === temperatures.length - 1) for (const [key, value] of Object.entries(figures)) summary[key.replace(/^sweep\//, '') + '_at_max_t'] = Math.round(value * 10000) / 10000
        ctx.progress({ step: ++done, totalSteps: temperatures.length * sets.length, message: `T=${temperature} ${set.name}` })
      }
    }
  } finally {
    model.dispose()
    rm?.dispose()
  }
  ctx.tracker.flush()
  return { summary }
}

export const temperatureSweepStage = defineStage({
  name: 'temperature_sweep',
  title: 'Temperature sweep',
  description:
    'Samples N answers per prompt at several temperatures on a factual and a creative prompt set and charts diversity ' +
    '(distinct-n, Self-BLEU) and gold accuracy or reward against the temperature (Llama 2 Figure 21).',
  schema,
  presets: { quick: { temperatures: '0.1,0.5,1.0,1.5', samples: 4, max_prompts: 10, max_new_tokens: 32 } },
  parents: [
    { role: 'model', key: 'model', required: true },
    { role: 'judge', key: 'rm' },
  ],
  cli: {
    command: 'sweep',
    summary: 'sweep --model <run> --factual <f> --creative <f>   diversity and accuracy against temperature',
    usage: [
      'Usage: workbench sweep --model <run|checkpoint> [--factual f.jsonl] [--creative f.jsonl] [--temperatures 0.1,0.5,1.0] [--samples N] [--rm <run>]',
      '',
      'Samples N answers per prompt at each temperature; metrics are logged at step = temperature x 100',
      "(the demo export's eval_tasks.jsonl serves as both sets: its creative items are the creative set).",
    ].join('\n'),
    flags: { model: 'model', factual: 'factual', creative: 'creative', temperatures: 'temperatures', samples: 'samples', rm: 'rm' },
  },
  precheck: (config) => void sweepSets(config),
  run,
})
