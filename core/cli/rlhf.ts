// `workbench rlhf`: Llama 2's iterated RLHF (section 3.2.3) from the command line. The sequencing
// (rounds RLHF-V1, V2 ..., each round's checkpoint seeding the next, the stage per method) lives in
// core/rl/sequence.ts, shared with the app; this file reads the flags, builds each round's config
// from them (--set, --config, --preset apply to every round) and shows each round as it runs.
import path from 'node:path'
import { backendPreference } from '../backend'
import { JobRunner } from '../jobs/runner'
import { RLHF_METHODS, RlhfPlanError, runRlhfSequence, roundStages, type RlhfMethod, type RlhfPlan } from '../rl/sequence'
import { resolveHome } from '../tracking/home'
import { absoluteIfPath, buildStageConfig, existingPaths, parseCommandArgs, RUN_OPTIONS, UsageError, type ParsedArgs } from './args'
import type { CliIO } from './io'
import { jsonLine, watchRun } from './watchRun'

export { RLHF_METHODS, stageOfRound, type RlhfMethod } from '../rl/sequence'

const USAGE = [
  'Usage: workbench rlhf --policy <sft run|checkpoint> --prompts FILE [--rm-helpful <run>] [--rm-safety <run>]',
  '                      [--rounds N] [--method rs|ppo|rs+ppo] [--safety-prompts FILE] [--safety-prompt-share X]',
  '                      [--set KEY=VALUE ...] [--json]',
  '',
  'Runs N rounds of RLHF, each a run named RLHF-V<n> whose checkpoint seeds the next. Give at least one reward',
  'model. --method rs (default): rejection sampling every round; ppo: PPO every round; rs+ppo: rejection',
  'sampling, and PPO on top of it in the last round. --safety-prompt-share X (0..1): the share of safety prompts',
  'each round draws (prompts tagged "safety" in --prompts, plus every prompt of --safety-prompts); unset, the',
  "files' own mix. --set, --config and --preset apply to every round (a key the round's stage does not have is",
  'an error before anything runs).',
].join('\n')

export async function runRlhfCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(
    argv,
    {
      ...RUN_OPTIONS,
      policy: { type: 'string' },
      prompts: { type: 'string' },
      'rm-helpful': { type: 'string' },
      'rm-safety': { type: 'string' },
      rounds: { type: 'string' },
      method: { type: 'string' },
      'safety-prompts': { type: 'string' },
      'safety-prompt-share': { type: 'string' },
    },
    'rlhf',
  )
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length > 0) throw new UsageError(`rlhf: unexpected argument "${args.positionals[0]}" (see \`workbench rlhf --help\`)`)
  const plan = readPlan(args)
  const home = resolveHome(args.values.home as string | undefined)
  const backend = args.values.backend as string | undefined
  if (backend !== undefined) backendPreference(backend)
  try {
    roundStages(plan) // the method's stages exist: a usage error before any run is submitted
  } catch (error) {
    if (error instanceof RlhfPlanError) throw new UsageError(error.message)
    throw error
  }

  const runner = new JobRunner({ home, backend })
  const json = Boolean(args.values.json)
  let failed = 0
  const result = await runRlhfSequence({
    home,
    runner,
    plan,
    configFor: (stage, keys) => buildStageConfig(stage, args, keys),
    experiment: args.values.experiment as string | undefined,
    onRound: (r) => {
      if (json) io.out(jsonLine({ type: 'round', version: r.version, round: r.round, run_id: r.runId, stage: r.stage, policy: r.policy }))
      else io.out(`${r.version}: ${r.stage} from ${r.policy} (round ${r.round} of ${plan.rounds})`)
    },
    waitFor: async (runId) => {
      failed = await watchRun(runner, io, { runId, home, json })
      return failed === 0
    },
  })
  const done = result.rounds.map((r) => ({ version: r.version, run_id: r.runId, stage: r.stage }))
  if (!result.completed) {
    if (!json) io.err(`${done.at(-1)?.version} did not finish; later rounds were not started`)
    return failed
  }
  if (json) io.out(jsonLine({ type: 'rlhf', method: plan.method, rounds: done }))
  else io.out(`rounds: ${done.map((d) => `${d.version} ${d.run_id}`).join(' -> ')}`)
  return 0
}

function readPlan(args: ParsedArgs): RlhfPlan {
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
  const safetyPrompts = existingPaths(v['safety-prompts'], '--safety-prompts')?.[0]
  const shareText = v['safety-prompt-share'] as string | undefined
  const share = shareText === undefined ? undefined : Number(shareText)
  if (share !== undefined && !(shareText!.trim() !== '' && share >= 0 && share <= 1)) throw new UsageError(`rlhf: --safety-prompt-share must be a number in 0..1, got "${shareText}"`)
  return {
    policy: absoluteIfPath(policy),
    prompts: path.resolve(prompts),
    rmHelpful: rmHelpful && absoluteIfPath(rmHelpful),
    rmSafety: rmSafety && absoluteIfPath(rmSafety),
    rounds,
    method,
    safetyPrompts: safetyPrompts && path.resolve(safetyPrompts),
    safetyPromptShare: share,
  }
}
