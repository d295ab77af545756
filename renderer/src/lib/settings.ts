// The app's own settings (not a run's): light or dark, and desktop notifications. Kept in the
// page's localStorage, so they survive restarts in the desktop app and in web mode alike.
import { reactive, watch } from 'vue'

export type ThemeChoice = 'system' | 'light' | 'dark'

export interface AppSettings {
  theme: ThemeChoice
  /** A desktop notification when a long run finishes or fails while the app is in the background. */
  notifyRuns: boolean
}

export const DEFAULT_SETTINGS: AppSettings = { theme: 'system', notifyRuns: true }
const KEY = 'workbench.settings'

/** Settings from stored text; anything missing or unreadable falls back to the default. */
export function parseSettings(text: string | null): AppSettings {
  let stored: Record<string, unknown> = {}
  try {
    const value: unknown = text ? JSON.parse(text) : {}
    if (value && typeof value === 'object') stored = value as Record<string, unknown>
  } catch {
    // A hand-edited or truncated value: start from the defaults.
  }
  return {
    theme: stored.theme === 'light' || stored.theme === 'dark' || stored.theme === 'system' ? stored.theme : DEFAULT_SETTINGS.theme,
    notifyRuns: typeof stored.notifyRuns === 'boolean' ? stored.notifyRuns : DEFAULT_SETTINGS.notifyRuns,
  }
}

function storage(): Storage | null {
  try {
    return globalThis.localStorage ?? null
  } catch {
    return null
  }
}

/** The one settings object of the page; every change is saved. */
export const settings = reactive<AppSettings>(parseSettings(storage()?.getItem(KEY) ?? null))
watch(settings, (value) => storage()?.setItem(KEY, JSON.stringify(value)), { deep: true })
