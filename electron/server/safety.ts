// The safety handlers (the Safety screen): list safety_eval runs, serve their answers one at a
// time to a person who rates them on the five-point scale (each rating saved at once), and build
// the safety report of one or more runs as data, standalone HTML and CSV for the downloads.
// The data lives in the store (core/tracking/safetyRatings.ts, core/eval/safetyReport.ts).

import { buildSafetyReport, safetyReportCsv, safetyReportHtml } from '../../core/eval/safetyReport'
import { nextItemToRate, readSafetyReport, saveSafetyRating } from '../../core/tracking/safetyRatings'
import type { Store } from '../../core/tracking/store'
import { ApiError, type ApiHandlers, type SafetyRunInfo } from '../shared/api'

type SafetyChannels = 'safety:runs' | 'safety:next' | 'safety:rate' | 'safety:report'

export function createSafetyHandlers(deps: { store: Store }): Pick<ApiHandlers, SafetyChannels> {
  const { store } = deps

  /** Core errors (unknown run, no report yet, wrong stage) become messages the page shows as is. */
  function asApiError<T>(what: () => T): T {
    try {
      return what()
    } catch (error) {
      if (error instanceof ApiError) throw error
      throw new ApiError((error as Error).message, 'not_found')
    }
  }

  return {
    'safety:runs': async () =>
      store.listRuns({ stage: 'safety_eval' }).map((r): SafetyRunInfo => {
        const config = store.getRunRecord(r.id).config
        const finished = r.status === 'finished' && store.listArtifacts(r.id, { kind: 'safety_report' }).length > 0
        return { id: r.id, name: r.name, status: r.status, label: typeof config.label === 'string' ? config.label : '', hasReport: finished, createdAt: r.createdAt }
      }),
    'safety:next': async ({ id, annotator }) => asApiError(() => nextItemToRate(store, id, annotator)),
    'safety:rate': async ({ id, itemId, annotator, rating }) =>
      asApiError(() => {
        if (!readSafetyReport(store, id).items.some((it) => it.id === itemId)) throw new ApiError(`run ${id} has no item "${itemId}"`, 'not_found')
        saveSafetyRating(store, { runId: id, itemId, annotator, rating })
        const { rated, total } = nextItemToRate(store, id, annotator)
        return { rated, total }
      }),
    'safety:report': async ({ ids }) =>
      asApiError(() => {
        const data = buildSafetyReport(store, ids)
        return { data, html: safetyReportHtml(data), csv: safetyReportCsv(data) }
      }),
  }
}
