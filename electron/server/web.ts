// Web mode: the same API as the preload bridge, over HTTP on 127.0.0.1.
//
//   GET  /?token=T            the built renderer (index.html); the page keeps the token
//   GET  /assets/...          the renderer's static files (code only, no user data)
//   POST /api/<channel>       JSON argument in, { ok: true, result } or { ok: false, error } out
//   GET  /api/events?token=T  Server-Sent Events: one `event: <name>` + JSON `data:` per push
//   POST /upload/dataset?name=N  the file's bytes as the body (application/octet-stream), streamed
//                             to <home>/datasets; answers like /api/ (result: the DatasetInfo)
//
// Every request except static assets needs the token (header `x-workbench-token` or `?token=`).
// The Host header must be the loopback address we bound, which stops DNS-rebinding pages from
// talking to the server. API calls (they change state) must be `Content-Type: application/json`
// (uploads `application/octet-stream`, which also needs a CORS preflight) and, when the browser sends an Origin, come from this very server's origin: a foreign page can
// send a "simple" text/plain POST without a CORS preflight, so the token alone is not enough.
// Responses carry a strict CSP. Bodies over the limit answer 413; a malformed URL answers 400.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join, normalize, resolve, sep } from 'node:path'
import type { AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { ApiError, dispatch, errorMessage, type ApiHandlers, type DatasetInfo } from '../shared/api'
import type { EventHub } from './eventHub'

export interface WebServerOptions {
  handlers: ApiHandlers
  hub: EventHub
  /** Folder with the built renderer (index.html + assets/). Omit to serve the API only. */
  staticDir?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Defaults to a fresh random token. */
  token?: string
  /** Largest accepted JSON body. */
  maxBodyBytes?: number
  /** Saves an uploaded data file (POST /upload/dataset); without it the route answers 404. */
  uploadDataset?: UploadDataset
}

/** Streams an uploaded file's body to disk; `declaredBytes` is its Content-Length. */
export type UploadDataset = (name: string, body: Readable, declaredBytes: number | undefined) => Promise<DatasetInfo>

export interface WebServer {
  url: string
  port: number
  token: string
  close(): Promise<void>
}

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
}

export function newToken(): string {
  return randomBytes(24).toString('base64url')
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const token = options.token ?? newToken()
  const maxBody = options.maxBodyBytes ?? 1_000_000
  let port = 0
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error) => sendJson(res, 500, { ok: false, error: errorMessage(error) }))
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    setSecurityHeaders(res)
    if (!isAllowedHost(req.headers.host, port)) return sendText(res, 403, 'forbidden: unexpected Host header')
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`)
    const path = safeDecodePath(url.pathname)
    if (path === null) return sendText(res, 400, 'bad request: the URL path is not valid percent-encoded UTF-8')

    if (req.method === 'GET' && path.startsWith('/assets/') && options.staticDir) {
      return serveStatic(res, options.staticDir, path)
    }
    if (!hasValidToken(req, url, token)) {
      return sendText(res, 401, 'unauthorized: open the URL printed by `npm run serve` (it carries the token)')
    }
    if (req.method === 'GET' && path === '/api/events') return openEventStream(req, res, options.hub)
    if (path.startsWith('/api/')) {
      if (req.method !== 'POST') return sendJson(res, 405, { ok: false, error: 'use POST for API calls' })
      const refused = refuseCrossSite(req, 'application/json')
      if (refused) return sendJson(res, refused.status, { ok: false, error: refused.error })
      return callApi(req, res, path.slice('/api/'.length))
    }
    if (path === '/upload/dataset' && options.uploadDataset) {
      if (req.method !== 'POST') return sendJson(res, 405, { ok: false, error: 'use POST to upload' })
      const refused = refuseCrossSite(req, 'application/octet-stream')
      if (refused) return sendJson(res, refused.status, { ok: false, error: refused.error })
      return upload(req, res, url.searchParams.get('name') ?? '', options.uploadDataset)
    }
    if (req.method === 'GET' && (path === '/' || path === '/index.html') && options.staticDir) {
      return serveStatic(res, options.staticDir, '/index.html')
    }
    return sendText(res, 404, 'not found')
  }

  async function callApi(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    let body: unknown
    try {
      body = await readJsonBody(req, maxBody)
    } catch (error) {
      return sendJson(res, error instanceof BodyTooLargeError ? 413 : 400, { ok: false, error: errorMessage(error) })
    }
    try {
      const result = await dispatch(options.handlers, channel, body)
      sendJson(res, 200, { ok: true, result: result ?? null })
    } catch (error) {
      const status = error instanceof ApiError ? statusFor(error.code) : 500
      sendJson(res, status, { ok: false, error: errorMessage(error) })
    }
  }

  async function upload(req: IncomingMessage, res: ServerResponse, name: string, save: UploadDataset): Promise<void> {
    const length = req.headers['content-length']
    try {
      const result = await save(name, req, length === undefined ? undefined : Number(length))
      sendJson(res, 200, { ok: true, result })
    } catch (error) {
      // Refused before the body was read (a bad name, too large): say so, then stop reading it.
      sendJson(res, error instanceof ApiError ? statusFor(error.code) : 500, { ok: false, error: errorMessage(error) })
      if (!req.readableEnded) req.resume()
    }
  }

  // Clients reuse idle connections; with Node's 5 s default, a request sent just as the server
  // closes one is reset (seen under heavy load by `npm run soak`). A longer idle time makes that rare.
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolvePromise, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, '127.0.0.1', () => resolvePromise())
  })
  port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolvePromise) => {
        server.closeAllConnections()
        server.close(() => resolvePromise())
      }),
  }
}

function statusFor(code: ApiError['code']): number {
  return { bad_request: 400, not_found: 404, conflict: 409, forbidden: 403, internal: 500 }[code]
}

function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('Referrer-Policy', 'no-referrer')
  res.setHeader('X-Frame-Options', 'DENY')
  res.setHeader('Cache-Control', 'no-store')
}

function isAllowedHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`
}

/**
 * Blocks cross-site requests to the API: the body must be declared JSON, or for an upload
 * application/octet-stream (a foreign page can send neither without a CORS preflight, which this server never grants), and an Origin, when the
 * browser sends one, must be this server's own (the Host header is already checked).
 */
function refuseCrossSite(req: IncomingMessage, expectedType: 'application/json' | 'application/octet-stream'): { status: number; error: string } | null {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
  if (type !== expectedType) {
    return { status: 415, error: `${expectedType === 'application/json' ? 'API calls' : 'uploads'} must be sent as Content-Type: ${expectedType}` }
  }
  const origin = req.headers.origin
  if (origin !== undefined && origin !== `http://${req.headers.host}`) {
    return { status: 403, error: 'forbidden: the request comes from another origin' }
  }
  return null
}

/** The decoded path, or null when its percent-encoding is not valid UTF-8 (e.g. %E0%A4%A). */
function safeDecodePath(pathname: string): string | null {
  try {
    return decodeURIComponent(pathname)
  } catch {
    return null
  }
}

function hasValidToken(req: IncomingMessage, url: URL, token: string): boolean {
  const given = (req.headers['x-workbench-token'] as string | undefined) ?? url.searchParams.get('token') ?? ''
  const a = Buffer.from(given)
  const b = Buffer.from(token)
  return a.length === b.length && timingSafeEqual(a, b)
}

function openEventStream(req: IncomingMessage, res: ServerResponse, hub: EventHub): void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive' })
  res.write(': connected\n\n')
  const unsubscribe = hub.subscribe((event, payload) => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`)
  })
  // A comment line every 15 s keeps proxies and idle timers from closing the stream.
  const keepAlive = setInterval(() => res.write(': ping\n\n'), 15_000)
  req.on('close', () => {
    clearInterval(keepAlive)
    unsubscribe()
  })
}

function serveStatic(res: ServerResponse, root: string, urlPath: string): void {
  const rootAbs = resolve(root)
  const file = resolve(rootAbs, '.' + normalize(urlPath))
  // Only files inside the static folder, never a path that climbs out of it.
  if (!file.startsWith(rootAbs + sep) || !existsSync(file) || !statSync(file).isFile()) {
    if (urlPath === '/index.html') return sendText(res, 503, `the renderer is not built: run \`npm run build:web\` (looked in ${rootAbs})`)
    return sendText(res, 404, 'not found')
  }
  res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' })
  res.end(readFileSync(file))
}

class BodyTooLargeError extends Error {}

/** Beyond this many bytes a too-large body is no longer drained, the connection is cut. */
const MAX_DRAIN_BYTES = 64 * 1024 * 1024

/**
 * Reads a JSON body of at most maxBytes. A larger one is drained and discarded, so the client
 * gets a 413 answer instead of a reset connection (unless it keeps sending past MAX_DRAIN_BYTES).
 */
function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    const tooLarge = () => new BodyTooLargeError(`request body over ${maxBytes} bytes`)
    if (Number(req.headers['content-length'] ?? 0) > MAX_DRAIN_BYTES) {
      req.destroy()
      return reject(tooLarge())
    }
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_DRAIN_BYTES) req.destroy()
      if (size <= maxBytes) chunks.push(chunk)
    })
    req.on('end', () => {
      if (size > maxBytes) return reject(tooLarge())
      const text = Buffer.concat(chunks).toString('utf8').trim()
      if (text === '') return resolvePromise(undefined)
      try {
        resolvePromise(JSON.parse(text))
      } catch {
        reject(new Error('request body is not valid JSON'))
      }
    })
    req.on('error', reject)
  })
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(body))
}

function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.end()
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
  res.end(text + '\n')
}

/** Where `npm run build:web` puts the renderer. */
export function defaultStaticDir(repoRoot: string): string {
  return join(repoRoot, 'dist-web')
}
