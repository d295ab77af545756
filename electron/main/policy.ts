// What the desktop window may load, navigate to and open, and who may call IPC: pure functions,
// kept apart from security.ts (which needs Electron) so they are tested without it.

import { sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface AppLocation {
  /** Absolute path of the built renderer's index.html (the only page the window shows). */
  rendererFile: string
  /** `npm run dev` only: the renderer dev server's URL (ELECTRON_RENDERER_URL). */
  devUrl?: string
}

/** Documentation hosts a link may open in the user's browser; anything else is refused. */
export const EXTERNAL_HOSTS: readonly string[] = ['github.com', 'huggingface.co', 'arxiv.org']

function parse(url: string): URL | null {
  try {
    return new URL(url)
  } catch {
    return null
  }
}

function filePath(u: URL): string | null {
  if (u.protocol !== 'file:' || (u.host !== '' && u.host !== 'localhost')) return null
  try {
    return fileURLToPath(u)
  } catch {
    return null
  }
}

function isDevServer(u: URL, app: AppLocation): boolean {
  const dev = app.devUrl ? parse(app.devUrl) : null
  return dev !== null && u.origin === dev.origin
}

/** Navigation: only the app's own page (any #route), or the dev server in `npm run dev`. */
export function isAppPage(url: string, app: AppLocation): boolean {
  const u = parse(url)
  if (!u) return false
  if (isDevServer(u, app)) return true
  return filePath(u) === app.rendererFile
}

/** Loading a resource: the renderer's own files (its folder), devtools, or the dev server. */
export function isAppResource(url: string, app: AppLocation): boolean {
  const u = parse(url)
  if (!u) return false
  if (u.protocol === 'devtools:' || isDevServer(u, app)) return true
  const file = filePath(u)
  const folder = app.rendererFile.slice(0, app.rendererFile.lastIndexOf(sep) + 1)
  return file !== null && file.startsWith(folder)
}

/** A link the user's browser may open: https on a known documentation host (or its subdomain). */
export function isAllowedExternalUrl(url: string): boolean {
  const u = parse(url)
  if (!u || u.protocol !== 'https:' || u.username || u.password) return false
  return EXTERNAL_HOSTS.some((host) => u.hostname === host || u.hostname.endsWith(`.${host}`))
}

/** The part of an IPC event we check: the frame that sent it. */
export interface IpcSenderLike {
  senderFrame?: { url: string; parent: unknown } | null
}

/** IPC is answered only for the app's own top-level page, never a subframe or a foreign page. */
export function isTrustedSender(event: IpcSenderLike, app: AppLocation): boolean {
  const frame = event.senderFrame
  if (!frame || frame.parent) return false
  return isAppPage(frame.url, app)
}
