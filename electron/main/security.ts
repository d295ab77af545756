// Electron's security checklist, applied to every window: no new windows, no navigation away from
// the app, no permissions, no remote content, a CSP on every response.

import { app, dialog, session, shell, type WebContents } from 'electron'
import { isAllowedExternalUrl, isAppPage, isAppResource, type AppLocation } from './policy'

export const APP_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export function hardenSession(location: AppLocation): void {
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [APP_CSP] } })
  })
  // Only the app's own files (and the dev server in `npm run dev`) may ever load.
  session.defaultSession.webRequest.onBeforeRequest((details, callback) => {
    callback({ cancel: !isAppResource(details.url, location) })
  })
  app.on('web-contents-created', (_event, contents) => hardenContents(contents, location))
}

function hardenContents(contents: WebContents, location: AppLocation): void {
  contents.setWindowOpenHandler(({ url }) => {
    // Links to known documentation hosts open in the user's browser, never inside the app.
    if (isAllowedExternalUrl(url)) void shell.openExternal(url)
    else void dialog.showMessageBox({ type: 'warning', message: 'Workbench did not open this link', detail: url })
    return { action: 'deny' }
  })
  contents.on('will-navigate', (event, url) => {
    if (!isAppPage(url, location)) event.preventDefault()
  })
  contents.on('will-redirect', (event, url) => {
    if (!isAppPage(url, location)) event.preventDefault()
  })
  contents.on('will-attach-webview', (event) => event.preventDefault())
}
