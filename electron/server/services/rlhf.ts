// A whole RLHF sequence started from the app (issue 12): the same rounds `workbench rlhf` runs
// (core/rl/sequence.ts), in the background of the services process. The page starts one, follows
// it with rlhf:get (each round is an ordinary run, so its metrics and status reach the page as any
// run's do), and cancels it: the round in progress stops and no later round starts. Sequences and
// their rounds are recorded in the store (core/tracking/rlhfSequences.ts), so they are listed after
// a restart; one whose driving process is gone reads as 'interrupted'.

import fs from 'node:fs'
import { ConfigError, resolveConfig } from '../../../core/config/schema'
import { RlhfPlanError, firstVersion, roundKeys, roundStages, runRlhfSequence, type RlhfPlan } from '../../../core/rl/sequence'
import type { StageDefinition } from '../../../core/train/stages/types'
import { ApiError, type ApiHandlers, type ParsedArgs, type RlhfSequenceInfo } from '../../shared/api'
import type { ServiceContext } from './context'
import {
  getSequence,
  interruptOrphanedSequences,
  listSequences,
  recordSequenceEnd,
  recordSequenceRound,
  recordSequenceStart,
  type RlhfSequenceRecord,
} from '../../../core/tracking/rlhfSequences'

type RlhfChannels = 'rlhf:start' | 'rlhf:get' | 'rlhf:list' | 'rlhf:cancel'

export function createRlhfHandlers(ctx: ServiceContext): Pick<ApiHandlers, RlhfChannels> {
  /** The sequences this process drives, by id: aborting one cancels it. */
  const driving = new Map<string, AbortController>()
  let counter = 0
  // Sequences left 'running' by an earlier app (closed, crashed) are interrupted, not running.
  interruptOrphanedSequences(ctx.store, new Set(driving.keys()))

  /** A recorded sequence, its status up to date (a driver that died since is found out here). */
  function sequence(id: string): RlhfSequenceInfo {
    interruptOrphanedSequences(ctx.store, new Set(driving.keys()))
    const s = getSequence(ctx.store, id)
    if (!s) throw new ApiError(`no RLHF sequence "${id}" (each round of a sequence is also a run in the runs list)`, 'not_found')
    return toInfo(s)
  }

  /** A run id (that exists) or a checkpoint folder the page may load, for the model fields. */
  function checkModel(ref: string, field: string): void {
    if (fs.existsSync(ref)) ctx.checkCheckpoint(ref, field)
    else ctx.run(ref)
  }

  /** The plan from the form, every path checked, and a round's config: the form's settings for that stage under the plan's keys. */
  function prepare(args: ParsedArgs<'rlhf:start'>) {
    checkModel(args.policy, 'policy')
    if (args.rmHelpful) checkModel(args.rmHelpful, 'rmHelpful')
    if (args.rmSafety) checkModel(args.rmSafety, 'rmSafety')
    ctx.checkPathAllowed(args.prompts, 'prompts')
    if (args.safetyPrompts) ctx.checkPathAllowed(args.safetyPrompts, 'safetyPrompts')
    const plan: RlhfPlan = {
      policy: args.policy,
      prompts: args.prompts,
      rmHelpful: args.rmHelpful,
      rmSafety: args.rmSafety,
      rounds: args.rounds,
      method: args.method,
      safetyPrompts: args.safetyPrompts,
      safetyPromptShare: args.safetyPromptShare,
    }
    const configFor = (stage: StageDefinition, keys: Record<string, unknown>) => {
      const settings = args.settings[stage.name as keyof typeof args.settings] ?? {}
      return resolveConfig(stage.schema, { ...settings, ...keys }, `${stage.name} config`) as Record<string, unknown>
    }
    // Everything that can be refused is refused now, as a message for the form: the stages, every
    // round's config and its files (a share of safety prompts the files cannot meet), the policy.
    try {
      for (const stage of new Set(roundStages(plan).values())) stage.precheck?.(configFor(stage, roundKeys(plan, plan.policy)) as never)
      firstVersion(ctx.home, plan.policy)
    } catch (error) {
      if (error instanceof RlhfPlanError || error instanceof ConfigError) throw new ApiError(error.message)
      throw new ApiError((error as Error).message)
    }
    return { plan, configFor }
  }

  return {
    'rlhf:start': async (args) => {
      const { plan, configFor } = prepare(args)
      counter += 1
      const id = `rlhf-${Date.now().toString(36)}${counter}`
      const info: RlhfSequenceInfo = {
        id,
        status: 'running',
        method: plan.method,
        rounds: plan.rounds,
        policy: plan.policy,
        safetyPromptShare: plan.safetyPromptShare,
        startedAt: Date.now(),
        started: [],
      }
      const abort = new AbortController()
      recordSequenceStart(ctx.store, info)
      driving.set(id, abort)
      let lastStatus = ''
      runRlhfSequence({
        home: ctx.home,
        runner: ctx.runner,
        plan,
        configFor,
        experiment: args.experiment,
        signal: abort.signal,
        onRound: (round) => {
          info.started.push(round)
          recordSequenceRound(ctx.store, id, round)
          ctx.emit('run:update', { id: round.runId, status: 'queued' })
        },
        waitFor: async (runId) => {
          const exit = await ctx.runner.wait(runId)
          lastStatus = `${runId} ended ${exit.status}${exit.error ? `: ${exit.error}` : ''}`
          return exit.status === 'finished'
        },
      })
        .then((result) => {
          info.status = result.completed ? 'finished' : abort.signal.aborted ? 'cancelled' : 'failed'
          if (info.status === 'failed') info.error = `round ${result.rounds.at(-1)?.version} (run ${lastStatus}); later rounds were not started`
        })
        .catch((error: Error) => {
          info.status = abort.signal.aborted ? 'cancelled' : 'failed'
          info.error = error.message
        })
        .finally(() => {
          driving.delete(id)
          try {
            recordSequenceEnd(ctx.store, id, info.status as 'finished' | 'failed' | 'cancelled', info.error)
          } catch (error) {
            // A promise callback must not throw; the sequence then reads as interrupted.
            console.error(`services: could not record how RLHF sequence ${id} ended: ${(error as Error).message}`)
          }
        })
      return structuredClone(info)
    },
    'rlhf:get': async ({ id }) => sequence(id),
    'rlhf:list': async () => {
      interruptOrphanedSequences(ctx.store, new Set(driving.keys()))
      return listSequences(ctx.store).map(toInfo)
    },
    'rlhf:cancel': async ({ id }) => {
      const s = sequence(id)
      if (s.status !== 'running') throw new ApiError(`RLHF sequence ${id} is ${s.status}, so there is nothing to cancel`, 'conflict')
      const abort = driving.get(id)
      if (!abort) throw new ApiError(`RLHF sequence ${id} is driven by another app or server on this home; cancel it there (or cancel its round's run)`, 'conflict')
      abort.abort()
      return { cancelled: true }
    },
  }
}

/** A stored sequence as the API shows it. */
function toInfo(s: RlhfSequenceRecord): RlhfSequenceInfo {
  return { ...s, method: s.method as RlhfSequenceInfo['method'] }
}
