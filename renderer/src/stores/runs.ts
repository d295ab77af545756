// The runs list: filters, selection for Compare, and live status/progress patches pushed by the
// services, so the table stays honest without polling.

import { defineStore } from 'pinia'
import { useApi } from '../api'
import type { RunStatus, RunSummary, RunUpdateEvent } from '../../../electron/shared/api'

export interface RunFilters {
  experiment: string
  stage: string
  status: '' | RunStatus
  tag: string
  text: string
}

export const useRunsStore = defineStore('runs', {
  state: () => ({
    runs: [] as RunSummary[],
    filters: { experiment: '', stage: '', status: '', tag: '', text: '' } as RunFilters,
    selected: [] as string[],
    loading: false,
    error: '',
    /** Every experiment and stage seen, for the filter menus (not narrowed by the filters). */
    experiments: [] as string[],
    stages: [] as string[],
  }),
  actions: {
    async load() {
      this.loading = true
      this.error = ''
      try {
        const f = this.filters
        this.runs = await useApi().runsList({
          experiment: f.experiment || undefined,
          stage: f.stage || undefined,
          status: f.status || undefined,
          tag: f.tag.trim() || undefined,
          // The search text is matched here, in the page (lib/runSearch.ts): it understands config
          // values (lr=3e-4) and metrics, which the server's text filter does not.
        })
        for (const run of this.runs) {
          if (run.experiment && !this.experiments.includes(run.experiment)) this.experiments.push(run.experiment)
          if (run.stage && !this.stages.includes(run.stage)) this.stages.push(run.stage)
        }
        this.experiments.sort()
        this.stages.sort()
        this.selected = this.selected.filter((id) => this.runs.some((r) => r.id === id))
      } catch (error) {
        this.error = (error as Error).message
      } finally {
        this.loading = false
      }
    },
    toggle(id: string) {
      this.selected = this.selected.includes(id) ? this.selected.filter((x) => x !== id) : [...this.selected, id]
    },
    /** Applies a pushed update; returns false when the run is not in the list (reload then). */
    applyUpdate(update: RunUpdateEvent): boolean {
      const run = this.runs.find((r) => r.id === update.id)
      if (!run) return false
      if (update.status) run.status = update.status
      if (update.progress) run.progress = update.progress
      return true
    },
  },
})
