// App-wide data that rarely changes: the stage registry (forms), system info, and the one error
// banner every screen can raise, so a failure is a readable message, never a blank screen.

import { defineStore } from 'pinia'
import { useApi } from '../api'
import type { StageInfo, SystemInfo } from '../../../electron/shared/api'

export const useAppStore = defineStore('app', {
  state: () => ({
    stages: [] as StageInfo[],
    system: null as SystemInfo | null,
    error: '',
  }),
  actions: {
    async loadStages(): Promise<StageInfo[]> {
      if (this.stages.length === 0) this.stages = await useApi().stagesList()
      return this.stages
    },
    async loadSystem() {
      try {
        this.system = await useApi().systemInfo()
      } catch (error) {
        this.showError(error)
      }
    },
    showError(error: unknown) {
      this.error = error instanceof Error ? error.message : String(error)
    },
    clearError() {
      this.error = ''
    },
  },
})
