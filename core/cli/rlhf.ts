// `workbench rlhf`: Llama 2's iterated RLHF (section 3.2.3). Runs N rounds, each its own run named
// RLHF-V1, V2 ... and linked to its parents (the policy it starts from, the reward models); each
// round's checkpoint is the next round's policy. `--method rs` runs rejection sampling every round,
// `ppo` runs PPO every round, `rs+ppo` runs PPO on top of rejection sampling in the last round
// (as Llama 2's V5). Every round goes through the job runner like any stage command.
import path from 'node:path'
import { backendPreference } from '../backend'
import { JobRunner } from '../jobs/runner'
import { resolveModelRef } from '../jobs/checkpoints'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import { earlierRounds } from '../train/stages/rejectionSampling'
import { listStages } from '../train/stages/registry'
import type { StageDefinition } from '../train/stages/types'
import { absoluteIfPath, buildStageConfig, existingPaths, parseCommandArgs, RUN_OPTIONS, UsageError, type ParsedArgs } from './args'
import type { CliIO } from './io'
import { jsonLine, watchRun } from './watchRun'

const USAGE = [
  'Usage: workbench rlhf --policy <sft run|checkpoint> --prompts FILE [--rm-helpful <run>] [--rm-safety <run>]',
  '                      [--rounds N] [--method rs|ppo|rs+ppo] [--set KEY=VALUE ...] [--json]',
  '',
  'Runs N rounds of RLHF, each a run named RLHF-V<n> whose checkpoint seeds the next. Give at least one reward',
  'model. --method rs (default): rejection sampling every round; ppo: PPO every round; rs+ppo: rejection',
  'sampling, and PPO on top of it in the last round. --set, --config and --preset apply to every round (a key the',
  "round's stage does not have is an error before anything runs).",
].join('\n')

export const RLHF_METHODS = ['rs', 'ppo', 'rs+ppo'] as const
export type RlhfMethod = (typeof RLHF_METHODS)[number]

/** The stage of round `round` (1-based) of `rounds`. */
export function stageOfRound(method: RlhfMethod, round: number, rounds: number): 'rejection_sampling' | 'ppo' {
  if (method === 'ppo' || (method === 'rs+ppo' && round === rounds)) return 'ppo'
  return 'rejection_sampling'
}

interface RlhfOptions {
  policy: string
  prompts: string
  rmHelpful?: string
  rmSafety?: string
  rounds: number
  method: RlhfMethod
}

export async function runRlhfCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(
    argv,
    { ...RUN_OPTIONS, policy: { type: 'string' }, prompts: { type: 'string' }, 'rm-helpful': { type: 'string' }, 'rm-safety': { type: 'string' }, rounds: { type: 'string' }, method: { type: 'string' } },
    'rlhf',
  )
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length > 0) throw new UsageError(`rlhf: unexpected argument "${args.positionals[0]}" (see \`workbench rlhf --help\`)`)
  const opts = readOptions(args)
  const home = resolveHome(args.values.home as string | undefined)
  const backend = args.values.backend as string | undefined
  if (backend !== undefined) backendPreference(backend)
  const stages = stagesFor(opts)
  // Every round's config is checked before the first round runs (with the first policy standing in).
  for (const stage of new Set(stages.values())) buildStageConfig(stage, args, roundFlags(opts, opts.policy))

  const firstVersion = versionAfter(home, opts.policy)
  const runner = new JobRunner({ home, backend })
  const json = Boolean(args.values.json)
  const done: { version: string; run_id: string; stage: string }[] = []
  let policy = opts.policy
  for (let round = 1; round <= opts.rounds; round++) {
    const stage = stages.get(round)!
    const version = `RLHF-V${firstVersion + round - 1}`
    const runId = runner.submit({
      stage: stage.name,
      config: buildStageConfig(stage, args, roundFlags(opts, policy)),
      name: version,
      experiment: args.values.experiment as string | undefined,
    })
    if (json) io.out(jsonLine({ type: 'round', version, round, run_id: runId, stage: stage.name, policy }))
    else io.out(`${version}: ${stage.name} from ${policy} (round ${round} of ${opts.rounds})`)
    const code = await watchRun(runner, io, { runId, home, json })
    done.push({ version, run_id: runId, stage: stage.name })
    if (code !== 0) {
      if (!json) io.err(`${version} did not finish; later rounds were not started`)
      return code
    }
    policy = runId
  }
  if (json) io.out(jsonLine({ type: 'rlhf', method: opts.method, rounds: done }))
  else io.out(`rounds: ${done.map((d) => `${d.version} ${d.run_id}`).join(' -> ')}`)
  return 0
}

function readOptions(args: ParsedArgs): RlhfOptions {
  const v = args.values
  const policy = v.policy as string | undefined
  if (!policy) throw new UsageError('rlhf: --policy <sft run|checkpoint> is required')
  const prompts = existingPaths(v.prompts, '--prompts')?.[0]
  if (!prompts) throw new UsageError('rlhf: --prompts FILE is required')
  const rmHelpful = v['rm-helpful'] as string | undefined
  const rmSafety = v['rm-safety'] as string | undefined
  if (!rmHelpful && !rmSafety) throw new UsageError('rlhf: give a reward model: --rm-helpful <run>, --rm-safety <run>, or both')
  const roundsText = (v.rounds as string | undefined) ?? '1'
  const rounds = Number(roundsText)
  if (!Number.isInteger(rounds) || rounds < 1 || !/^\d+$/.test(roundsText)) throw new UsageError(`rlhf: --rounds must be a whole number >= 1, got "${roundsText}"`)
  const method = ((v.method as string | undefined) ?? 'rs') as RlhfMethod
  if (!RLHF_METHODS.includes(method)) throw new UsageError(`rlhf: --method must be one of ${RLHF_METHODS.join(', ')}, got "${method}"`)
  return {
    policy: absoluteIfPath(policy),
    prompts: path.resolve(prompts),
    rmHelpful: rmHelpful && absoluteIfPath(rmHelpful),
    rmSafety: rmSafety && absoluteIfPath(rmSafety),
    rounds,
    method,
  }
}

/** Each round's stage; a method whose stage this build lacks is refused before anything runs. */
function stagesFor(opts: RlhfOptions): Map<number, StageDefinition> {
  const registered = listStages()
  const out = new Map<number, StageDefinition>()
  for (let round = 1; round <= opts.rounds; round++) {
    const name = stageOfRound(opts.method, round, opts.rounds)
    const stage = registered.find((s) => s.name === name)
    if (!stage) {
      throw new UsageError(
        `rlhf: --method ${opts.method} needs the "${name}" stage, which this build does not have (stages: ${registered.map((s) => s.name).join(', ')}); use --method rs`,
      )
    }
    out.set(round, stage)
  }
  return out
}

/** The config keys every RLHF stage shares (rejection_sampling's and ppo's names agree). */
function roundFlags(opts: RlhfOptions, policy: string): Record<string, unknown> {
  return { policy, prompts: opts.prompts, rm_helpful: opts.rmHelpful, rm_safety: opts.rmSafety }
}

/** The version number of the first new round: one past the RLHF rounds the policy already descends from. */
function versionAfter(home: string, policy: string): number {
  const store = Store.open(home)
  try {
    const ref = resolveModelRef(store, policy, '--policy')
    return earlierRounds(store, ref.runId).length + 1
  } finally {
    store.close()
  }
}
