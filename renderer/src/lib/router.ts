// A hash router small enough to read in one go: #/runs, #/runs/<id>, #/new, #/compare?ids=a,b,
// #/chat, #/preferences, #/safety, #/winrate, #/leaderboard, #/datasets?file=<path>, #/rlhf. The hash keeps the page's ?token=... query untouched in web mode.

import { reactive } from 'vue'

export type RouteName = 'runs' | 'run' | 'new' | 'compare' | 'chat' | 'preferences' | 'safety' | 'winrate' | 'leaderboard' | 'datasets' | 'rlhf' | 'notFound'

export interface Route {
  name: RouteName
  params: Record<string, string>
  query: Record<string, string>
}

export function parseHash(hash: string): Route {
  const text = hash.replace(/^#/, '') || '/runs'
  const [pathPart, queryPart = ''] = text.split('?')
  const query = Object.fromEntries(new URLSearchParams(queryPart))
  const parts = pathPart.split('/').filter(Boolean).map(decodeURIComponent)
  if (parts.length === 0 || (parts[0] === 'runs' && parts.length === 1)) return { name: 'runs', params: {}, query }
  if (parts[0] === 'runs' && parts.length === 2) return { name: 'run', params: { id: parts[1] }, query }
  if (parts[0] === 'new' && parts.length === 1) return { name: 'new', params: {}, query }
  if (parts[0] === 'compare' && parts.length === 1) return { name: 'compare', params: {}, query }
  if (parts[0] === 'chat' && parts.length === 1) return { name: 'chat', params: {}, query }
  if (parts[0] === 'preferences' && parts.length === 1) return { name: 'preferences', params: {}, query }
  if (parts[0] === 'safety' && parts.length === 1) return { name: 'safety', params: {}, query }
  if (parts[0] === 'winrate' && parts.length === 1) return { name: 'winrate', params: {}, query }
  if (parts[0] === 'leaderboard' && parts.length === 1) return { name: 'leaderboard', params: {}, query }
  if (parts[0] === 'datasets' && parts.length === 1) return { name: 'datasets', params: {}, query }
  if (parts[0] === 'rlhf' && parts.length === 1) return { name: 'rlhf', params: {}, query }
  return { name: 'notFound', params: {}, query }
}

export const route = reactive<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash))

export function startRouter(): void {
  window.addEventListener('hashchange', () => Object.assign(route, parseHash(location.hash)))
  Object.assign(route, parseHash(location.hash))
}

export function navigate(path: string): void {
  const hash = '#' + path
  if (location.hash === hash) return
  location.hash = hash
  // happy-dom and some embedders do not fire hashchange synchronously; update right away.
  Object.assign(route, parseHash(hash))
}

export function runPath(id: string): string {
  return `/runs/${encodeURIComponent(id)}`
}

export function comparePath(ids: string[]): string {
  return `/compare?ids=${ids.map(encodeURIComponent).join(',')}`
}
