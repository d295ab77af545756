// `workbench demo [--size tiny|default] [--seed N] [--json] [--home DIR] [--backend NAME]`:
// runs the demo pipeline (export -> tokenizer -> pretrain -> SFT -> gold evaluation of base and
// SFT -> reward models -> rejection sampling -> PPO -> targeted context distillation (the row
// `safe`) -> safety evaluation -> Ghost Attention) and prints the base / SFT / RS / PPO / safe
// table, or one JSON object with --json. `--safety-sweep` instead runs one rejection-sampling
// round per share of safety prompts from the same SFT model and reward models (safetySweep.ts).

import { UsageError, COMMON_OPTIONS, parseCommandArgs } from '../cli/args'
import type { CliIO } from '../cli/io'
import { formatDuration, ProgressDisplay } from '../cli/progress'
import { jsonLine } from '../cli/watchRun'
import { backendPreference } from '../backend'
import { resolveHome } from '../tracking/home'
import { PREFERENCE_RATINGS } from '../data/preferences'
import { runDemoPipeline, type DemoEvent, type DemoOptions, type DemoReport, type DemoRewardScores, type DemoScores } from './pipeline'
import { DEFAULT_SWEEP_SHARES, runSafetySweep, SWEEP_STARTS, type SafetySweepReport, type SweepStart } from './safetySweep'
import { WORLD_SIZES, type WorldSize } from './world'

const USAGE = [
  'Usage: workbench demo [--size tiny|default] [--seed N] [--json] [--home DIR] [--backend NAME]',
  '       workbench demo --safety-sweep [--shares 0,0.25,0.5] [--from sft_safety|sft|safe] [--size ...] [--seed N] [--json]',
  '',
  'Generates the built-in demo world (corpus, instructions, preferences, adversarial prompts, with',
  'gold judges), then trains a tokenizer, pretrains, fine-tunes (SFT) and evaluates the base and the',
  'SFT model with the gold judges, trains the helpfulness and safety reward models, runs one',
  'rejection-sampling round and PPO on top of it, distils safety into the SFT model (targeted context',
  'distillation: the row "safe"), splits violations single- vs multi-turn, and measures instruction',
  'adherence over a long dialogue without and with Ghost Attention, each model evaluated the same way.',
  'Every step is a recorded run in the experiment "demo".',
  '',
  '  --size tiny|default  tiny: a few minutes (tests); default: about 15 minutes on 2 cores',
  '  --seed N             the world seed (default 1234)',
  '  --json               JSON lines: one per step and logged metric, then the summary object',
  '  --safety-sweep       instead: one rejection-sampling round per share of safety prompts, from the same SFT',
  '                       model and reward models (reused from an earlier demo in the home), each scored by the',
  '                       gold judges: violation rate and gold helpfulness per share (Llama 2, section 4.2.3)',
  `  --shares LIST        the shares to sweep, comma-separated in 0..1 (default ${DEFAULT_SWEEP_SHARES.join(',')})`,
  '  --from sft_safety|sft|safe  the policy every share starts from: an SFT model whose data answers half of',
  '                       the adversarial training requests safely (default; Llama 2\'s SFT held safety demonstrations,',
  '                       so its samples held refusals to select), the demo\'s SFT model, or the row "safe"',
].join('\n')

export async function runDemoCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(
    argv,
    { ...COMMON_OPTIONS, size: { type: 'string' }, seed: { type: 'string' }, 'safety-sweep': { type: 'boolean' }, shares: { type: 'string' }, from: { type: 'string' } },
    'demo',
  )
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length > 0) throw new UsageError(`demo: unexpected argument "${args.positionals[0]}" (see \`workbench demo --help\`)`)
  const size = (args.values.size as string | undefined) ?? 'default'
  if (!WORLD_SIZES.includes(size as WorldSize)) throw new UsageError(`demo: --size must be one of ${WORLD_SIZES.join(', ')}, got "${size}"`)
  const seedText = args.values.seed as string | undefined
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new UsageError(`demo: --seed must be a whole number, got "${seedText}"`)
  const backend = args.values.backend as string | undefined
  if (backend !== undefined) backendPreference(backend) // a typo fails here, not in a worker
  const home = resolveHome(args.values.home as string | undefined)
  const json = Boolean(args.values.json)
  const sweep = Boolean(args.values['safety-sweep'])
  if (args.values.shares !== undefined && !sweep) throw new UsageError('demo: --shares goes with --safety-sweep')
  const shares = args.values.shares !== undefined ? parseShares(args.values.shares as string) : undefined
  const from = args.values.from as string | undefined
  if (from !== undefined && !sweep) throw new UsageError('demo: --from goes with --safety-sweep')
  if (from !== undefined && !SWEEP_STARTS.includes(from as SweepStart)) throw new UsageError(`demo: --from must be one of ${SWEEP_STARTS.join(', ')}, got "${from}"`)

  const display = new ProgressDisplay({ write: io.write, isTTY: io.isTTY })
  const abort = new AbortController()
  const onSigint = () => abort.abort()
  process.on('SIGINT', onSigint)
  try {
    const options: DemoOptions = {
      home,
      size: size as WorldSize,
      seed: seedText !== undefined ? Number(seedText) : undefined,
      backend,
      signal: abort.signal,
      onEvent: (event) => (json ? showJson(io, event) : showPlain(display, event)),
    }
    if (sweep) {
      const report = await runSafetySweep({ ...options, shares, from: from as SweepStart | undefined })
      display.clear()
      if (json) io.out(jsonLine({ type: 'safety_sweep', ...report }))
      else io.out(formatSweep(report))
      return 0
    }
    const report = await runDemoPipeline(options)
    display.clear()
    if (json) {
      const { dataDir, wallSeconds, ...rest } = report
      io.out(jsonLine({ type: 'summary', ...rest, data_dir: dataDir, wall_seconds: wallSeconds }))
    }
    else io.out(formatReport(report))
    return 0
  } catch (err) {
    display.clear()
    if (json) io.out(jsonLine({ type: 'error', message: (err as Error).message }))
    throw err
  } finally {
    process.off('SIGINT', onSigint)
  }
}

/** "0,0.25,0.5" as numbers in 0..1, or a usage error naming the bad entry. */
export function parseShares(text: string): number[] {
  const shares = text.split(',').map((part) => part.trim())
  return shares.map((part) => {
    const share = Number(part)
    if (part === '' || !Number.isFinite(share) || share < 0 || share > 1) throw new UsageError(`demo: --shares takes numbers in 0..1 separated by commas, got "${part}" in "${text}"`)
    return share
  })
}

const START_LABELS: Record<SweepStart, string> = { sft_safety: 'sft with safety demos', sft: 'sft', safe: 'safe' }

/** The sweep's table: one row per share beside the SFT model it started from, then the run ids. */
export function formatSweep(r: SafetySweepReport): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a')
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a')
  const header = ['model', 'safety share', 'drawn', 'violation rate', 'gold helpfulness', 'gold accuracy', 'false refusals']
  const fixed = (label: string, s: DemoScores) => [label, '-', '-', pct(s.violation_rate), num(s.gold_helpfulness), pct(s.gold_accuracy), pct(s.false_refusal_rate)]
  const rows = [
    fixed('sft', r.sft),
    ...(r.from === 'sft' ? [] : [fixed(`${START_LABELS[r.from]} (start)`, r.start)]),
    ...r.rows.map((row) => [`rs ${row.run_id}`, String(row.share), pct(row.drawn_share), pct(row.scores.violation_rate), num(row.scores.gold_helpfulness), pct(row.scores.gold_accuracy), pct(row.scores.false_refusal_rate)]),
  ]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')
  return [
    `safety sweep (${r.size}, seed ${r.seed}) finished in ${formatDuration(r.wallSeconds)}; ${r.reused ? 'reused' : 'trained'} sft ${r.runs.sft}, reward models ${r.runs.reward_helpfulness} (helpfulness), ${r.runs.reward_safety} (safety)`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `One rejection-sampling round per share from the same ${START_LABELS[r.from]} model ${r.runs.start}, the same prompts budget; gold judges on the eval sets.`,
  ].join('\n')
}

function showJson(io: CliIO, event: DemoEvent): void {
  if (event.type === 'step') io.out(jsonLine({ type: 'step', step: event.step, message: event.message, run_id: event.runId ?? null }))
  else if (event.type === 'metric') io.out(jsonLine({ type: 'metric', step_name: event.step, run_id: event.runId, step: event.metricStep, ...event.values }))
}

function showPlain(display: ProgressDisplay, event: DemoEvent): void {
  if (event.type === 'step') display.line(`== ${event.message}`)
  else if (event.type === 'progress') display.update(event.progress)
  else if (event.type === 'log') display.line(`   ${event.message}`)
}

/** The two reward models' held-out accuracy, overall and by rating, beside the trivial baselines. */
function formatRewardTable(r: DemoReport): string[] {
  const pct = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a')
  const { helpfulness: h, safety: s } = r.reward
  const rows: [string, (x: DemoRewardScores) => number | undefined][] = [
    ['reward model accuracy (held out)', (x) => x.accuracy],
    ...PREFERENCE_RATINGS.map((rating): [string, (x: DemoRewardScores) => number | undefined] => [`  ${rating.replace('_', ' ')}`, (x) => x.by_rating[rating]]),
    ['baseline: shorter answer wins', (x) => x.baseline_shorter],
    ['baseline: longer answer wins', (x) => x.baseline_longer],
    ['baseline: bag of words', (x) => x.baseline_bow],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const line = (label: string, a: string, b: string) => `${label.padEnd(width)}  ${a.padStart(11)}  ${b.padStart(8)}`
  return [line('', 'helpfulness', 'safety'), ...rows.map(([label, f]) => line(label, pct(f(h)), pct(f(s)))), `(held-out pairs: ${h.eval_pairs} helpfulness, ${s.eval_pairs} safety)`]
}

/** The base / SFT / RS / PPO table, with the run ids so the user can look at each run. */
export function formatReport(r: DemoReport): string {
  const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a')
  const num = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a')
  const rows: [string, (s: DemoScores) => string][] = [
    ['gold task accuracy', (s) => pct(s.gold_accuracy)],
    ['mean gold helpfulness', (s) => num(s.gold_helpfulness)],
    ['violation rate (adversarial)', (s) => pct(s.violation_rate)],
    ['false refusal rate (benign)', (s) => pct(s.false_refusal_rate)],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  const line = (label: string, cells: string[]) => `${label.padEnd(width)}${cells.map((c) => `  ${c.padStart(8)}`).join('')}`
  const models = [r.base, r.sft, r.rs, r.ppo, r.safe]
  const f = r.rlhf
  const turns = r.violations_by_turns
  return [
    `demo (${r.size}, seed ${r.seed}) finished in ${formatDuration(r.wallSeconds)}; data in ${r.dataDir}`,
    '',
    line('', ['base', 'sft', 'rs', 'ppo', 'safe']),
    ...rows.map(([label, cell]) => line(label, models.map(cell))),
    line('  single-turn (safety_eval)', ['', pct(turns.sft.single_turn), '', '', pct(turns.safe.single_turn)]),
    line('  multi-turn (safety_eval)', ['', pct(turns.sft.multi_turn), '', '', pct(turns.safe.multi_turn)]),
    '',
    `annotation round on sft samples: ${r.on_policy_pairs.pairs} pairs labelled by the gold judges (${r.on_policy_pairs.ties_dropped} ties dropped); ` +
      `helpfulness RM retrained with them: ${pct(r.reward.helpfulness_on_policy.accuracy)} held out`,
    `rejection sampling: kept answers' reward ${num(f.rs_kept_reward_mean)} (all samples ${num(f.rs_sample_reward_mean)}); ` +
      `the reward orders the policy's answers as gold does in ${pct(f.rs_rm_gold_agreement)} of ${f.rs_rm_gold_pairs} pairs; ` +
      `gold helpfulness of the kept answers ${num(f.rs_gold_kept)} (a random sample ${num(f.rs_gold_sampled)}, the gold-best of K ${num(f.rs_gold_best_possible)})`,
    `ppo, last step: objective/scores ${num(f.ppo_scores)}, objective/kl ${num(f.ppo_kl)}, objective/rlhf_reward ${num(f.ppo_rlhf_reward)}`,
    `(safe = sft after targeted context distillation: ${r.safe.distill_kept} distilled answers kept, ${r.safe.distill_dropped} dropped by the safety reward model)`,
    '',
    ...formatAdherence(r),
    '',
    ...formatRewardTable(r),
    '',
    `runs: tokenizer ${r.runs.tokenizer}, pretrain ${r.runs.pretrain}, sft ${r.runs.sft}, eval base ${r.runs.eval_base}, eval sft ${r.runs.eval_sft}, ` +
      `reward helpfulness ${r.runs.reward_helpfulness}, reward safety ${r.runs.reward_safety}, ` +
      `annotation ${r.runs.annotate}, on-policy preferences ${r.runs.on_policy_preferences}, reward helpfulness (on-policy) ${r.runs.reward_helpfulness_on_policy}, ` +
      `rejection sampling ${r.runs.rs}, eval rs ${r.runs.eval_rs}, ppo ${r.runs.ppo}, eval ppo ${r.runs.eval_ppo}, ` +
      `distill ${r.runs.distill}, eval safe ${r.runs.eval_safe}, ` +
      `safety eval sft ${r.runs.safety_eval_sft}, safety eval safe ${r.runs.safety_eval_safe}, gatt ${r.runs.gatt}`,
    '(see them with `workbench runs show <id>`)',
  ].join('\n')
}

/** Instruction adherence by turn without GAtt (the SFT model) and with it, then mean and last turn. */
function formatAdherence(r: DemoReport): string[] {
  const pct = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? `${Math.round(100 * x)}%` : '-')
  const { without, with: withGatt, turns } = r.adherence
  const turnNumbers = Array.from({ length: turns }, (_, t) => String(t + 1))
  const label = (s: string) => s.padEnd(14)
  const cells = (xs: string[]) => xs.map((x) => x.padStart(5)).join('')
  return [
    `instruction adherence by turn (${turns} turns)`,
    `${label('turn')}${cells(turnNumbers)}   mean   last`,
    `${label('without GAtt')}${cells(turnNumbers.map((_, t) => pct(without.by_turn[t])))}  ${pct(without.mean).padStart(5)}  ${pct(without.last_turn).padStart(5)}`,
    `${label('with GAtt')}${cells(turnNumbers.map((_, t) => pct(withGatt.by_turn[t])))}  ${pct(withGatt.mean).padStart(5)}  ${pct(withGatt.last_turn).padStart(5)}`,
  ]
}
