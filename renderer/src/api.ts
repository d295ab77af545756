// The only file that touches the bridge. In the desktop app the preload exposes
// `window.workbench`; in a browser (web mode) we talk to the local server over HTTP + SSE with the
// token from the page's URL. Components call `useApi()` and never know which one they got;
// component tests install a fake with `installApi()`.

import { CHANNELS, type BridgeMethod, type EventName } from '../../electron/shared/channels'
import type { DatasetInfo, EventListener, WorkbenchApi } from '../../electron/shared/api'

export type { WorkbenchApi }

declare global {
  interface Window {
    workbench?: WorkbenchApi
  }
}

let current: WorkbenchApi | null = null

export function installApi(api: WorkbenchApi): void {
  current = api
}

export function useApi(): WorkbenchApi {
  if (!current) current = detectApi()
  return current
}

/** The preload bridge when present, else the HTTP API of web mode. */
export function detectApi(): WorkbenchApi {
  if (window.workbench) return window.workbench
  return createHttpApi(location.origin, takeToken())
}

const TOKEN_KEY = 'workbench-token'

/**
 * Reads the token from `?token=` (then hides it from the address bar so it is not shared by
 * accident); a reload finds it again in sessionStorage.
 */
export function takeToken(): string {
  const params = new URLSearchParams(location.search)
  const fromUrl = params.get('token')
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl)
    params.delete('token')
    const rest = params.toString()
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash)
    return fromUrl
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

/** The web-mode client: POST /api/<channel> for calls, one EventSource for pushed events. */
export function createHttpApi(baseUrl: string, token: string): WorkbenchApi {
  const api: Record<string, unknown> = {}
  for (const [method, channel] of Object.entries(CHANNELS) as [BridgeMethod, string][]) {
    api[method] = (args?: unknown) => post(baseUrl, token, channel, args)
  }

  let source: EventSource | null = null
  const listeners = new Map<EventName, Set<(payload: unknown) => void>>()

  function ensureSource(): EventSource {
    if (source) return source
    source = new EventSource(`${baseUrl}/api/events?token=${encodeURIComponent(token)}`)
    for (const event of listeners.keys()) attach(event)
    return source
  }

  function attach(event: EventName): void {
    source?.addEventListener(event, (message) => {
      const payload = JSON.parse((message as MessageEvent<string>).data)
      for (const listener of listeners.get(event) ?? []) listener(payload)
    })
  }

  api.on = <E extends EventName>(event: E, listener: EventListener<E>) => {
    let set = listeners.get(event)
    if (!set) {
      set = new Set()
      listeners.set(event, set)
      if (source) attach(event)
    }
    set.add(listener as (payload: unknown) => void)
    ensureSource()
    return () => set.delete(listener as (payload: unknown) => void)
  }
  return api as WorkbenchApi
}

async function post(baseUrl: string, token: string, channel: string, args: unknown): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(`${baseUrl}/api/${channel}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-workbench-token': token },
      body: JSON.stringify(args ?? {}),
    })
  } catch {
    throw new Error(`cannot reach the Workbench server (${channel}); is \`npm run serve\` still running?`)
  }
  if (response.status === 401) throw new Error('the server refused the page: open the URL with the token that `npm run serve` printed')
  let body: { ok: boolean; result?: unknown; error?: string }
  try {
    body = await response.json()
  } catch {
    throw new Error(`the server sent an unreadable answer to ${channel} (HTTP ${response.status})`)
  }
  if (!body.ok) throw new Error(body.error ?? `${channel} failed (HTTP ${response.status})`)
  return body.result
}

// ---------- uploads (web mode) ----------

/** Bytes sent so far of the file's total. */
export type UploadProgress = (sent: number, total: number) => void

/** Sends a file from the page into <home>/datasets. Web mode only: the desktop app opens files natively. */
export interface Uploader {
  upload(file: File, onProgress?: UploadProgress): Promise<DatasetInfo>
}

let uploader: Uploader | null | undefined

export function installUploader(u: Uploader | null): void {
  uploader = u
}

/** The web-mode uploader, or null in the desktop app (whose Browse… opens the native dialog). */
export function useUploader(): Uploader | null {
  if (uploader === undefined) uploader = window.workbench ? null : createHttpUploader(location.origin, takeToken())
  return uploader
}

/**
 * POST /upload/dataset with the File itself as the body: the browser streams it from disk, so a
 * file of hundreds of MB never sits in the page's memory; XMLHttpRequest reports upload progress
 * (fetch does not).
 */
export function createHttpUploader(baseUrl: string, token: string): Uploader {
  return {
    upload: (file, onProgress) =>
      new Promise((resolve, reject) => {
        const xhr = new XMLHttpRequest()
        xhr.open('POST', `${baseUrl}/upload/dataset?name=${encodeURIComponent(file.name)}`)
        xhr.setRequestHeader('Content-Type', 'application/octet-stream')
        xhr.setRequestHeader('x-workbench-token', token)
        xhr.upload.onprogress = (e) => onProgress?.(e.loaded, e.lengthComputable ? e.total : file.size)
        xhr.onload = () => {
          let body: { ok: boolean; result?: DatasetInfo; error?: string }
          try {
            body = JSON.parse(xhr.responseText)
          } catch {
            return reject(new Error(`uploading ${file.name}: the server sent an unreadable answer (HTTP ${xhr.status})`))
          }
          if (body.ok && body.result) resolve(body.result)
          else reject(new Error(body.error ?? `uploading ${file.name} failed (HTTP ${xhr.status})`))
        }
        xhr.onerror = () => reject(new Error(`uploading ${file.name}: the connection to the Workbench server broke; nothing was saved`))
        xhr.onabort = () => reject(new Error(`uploading ${file.name} was cancelled; nothing was saved`))
        xhr.send(file)
      }),
  }
}
