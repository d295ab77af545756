// Electron's security checklist, applied to every window: no new windows, no navigation away from
// the app, no permissions, no remote content, a CSP on every response.

import { app, session, shell, type WebContents } from 'electron'

export const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export function hardenSession(): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [APP_CSP] } })
  })
  // Only the app's own files (and the dev server in `npm run dev`) may ever load.
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !isAppUrl(details.url) })
  })
  app.on('web-contents-created', (_event, contents) => hardenContents(contents))
}

function hardenContents(contents: WebContents): void {
  contents.setWindowOpenHandler(({ url }) => {
    // Links to the web open in the user's browser, never inside the app.
    if (url.startsWith('https://')) void shell.openExternal(url)
    return { action: 'deny' }
  })
  contents.on('will-navigate', (event, url) => {
    if (!isAppUrl(url)) event.preventDefault()
  })
  contents.on('will-attach-webview', (event) => event.preventDefault())
}

function isAppUrl(url: string): boolean {
  if (url.startsWith('file://') || url.startsWith('devtools://')) return true
  const dev = process.env.ELECTRON_RENDERER_URL
  return !!dev && url.startsWith(dev)
}
