// The win-rate handlers: the blind side-by-side screen for winrate runs judged by people (pairs as
// left / right only, each rating saved the moment it is made) and the leaderboard of every model
// compared so far. The data lives in the store (core/tracking/winrateJudgements.ts).

import { leaderboardFromStore } from '../../../core/cli/leaderboard'
import { blindPairs, humanWinrateFigures, listWinrateJudgements, saveWinrateJudgement } from '../../../core/tracking/winrateJudgements'
import { ApiError, type ApiHandlers } from '../../shared/api'
import type { ServiceContext } from './context'

type WinrateChannels = 'winrate:pairs' | 'winrate:judge' | 'winrate:figures' | 'leaderboard:get'

export function createWinrateHandlers(ctx: ServiceContext): Pick<ApiHandlers, WinrateChannels> {
  const { store } = ctx

  /** Runs a store call, turning its refusal (no such pair, a rating off the scale) into a message for the page. */
  function checked<T>(f: () => T): T {
    try {
      return f()
    } catch (error) {
      throw new ApiError((error as Error).message)
    }
  }

  return {
    'winrate:pairs': async ({ id, annotator }) => {
      ctx.run(id)
      return { pairs: checked(() => blindPairs(store, id, annotator)) }
    },
    'winrate:judge': async ({ id, index, annotator, rating }) => {
      ctx.run(id)
      checked(() => saveWinrateJudgement(store, { runId: id, pairIndex: index, annotator, rating }))
      const pairs = blindPairs(store, id, annotator)
      return { judged: listWinrateJudgements(store, id).filter((j) => j.annotator === annotator).length, total: pairs.length }
    },
    'winrate:figures': async ({ id }) => {
      ctx.run(id)
      return checked(() => humanWinrateFigures(store, id, { seed: 0, reps: 1000 }))
    },
    'leaderboard:get': async () => {
      const { standings, matches } = leaderboardFromStore(store, { seed: 0, reps: 200 })
      return { standings, comparisons: matches.length }
    },
  }
}
