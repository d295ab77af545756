// Light or dark: the user's choice, or the system's (prefers-color-scheme) when it is "system".
// The resolved theme goes on <html data-theme="..."> where style.css picks its colours, and into
// `theme` for code that draws with colours itself (the charts).
import { ref, watch } from 'vue'
import { settings, type ThemeChoice } from './settings'

export type Theme = 'light' | 'dark'

export function resolveTheme(choice: ThemeChoice, systemPrefersDark: boolean): Theme {
  if (choice === 'system') return systemPrefersDark ? 'dark' : 'light'
  return choice
}

/** The theme in effect now. */
export const theme = ref<Theme>('light')

/** Follows the setting and the system's setting from now on (called once, before mounting). */
export function startTheme(): void {
  const query = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null
  const apply = () => {
    const resolved = resolveTheme(settings.theme, query?.matches ?? false)
    // The attribute first: charts rebuilt on the change read their colours from it.
    document.documentElement.dataset.theme = resolved
    theme.value = resolved
  }
  query?.addEventListener('change', apply)
  watch(() => settings.theme, apply)
  apply()
}

/** A colour named in style.css (e.g. '--chart-grid') as the current theme sets it. */
export function cssColor(name: string, fallback: string): string {
  const value = typeof getComputedStyle === 'function' ? getComputedStyle(document.documentElement).getPropertyValue(name).trim() : ''
  return value || fallback
}
