/// <reference lib="dom" />
// The renderer's HTTP client (renderer/src/api.ts) is exercised here against the real server, so this file needs the DOM types.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'node:http'
import { startWebServer, type WebServer } from '../../electron/server/web'
import { createFakeWorld, type FakeWorld } from './fakeServices'
import { createHttpApi } from '../../renderer/src/api'

let server: WebServer
let world: FakeWorld
let staticDir: string

beforeAll(async () => {
  staticDir = mkdtempSync(join(tmpdir(), 'wb-static-'))
  mkdirSync(join(staticDir, 'assets'))
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>Workbench</title>')
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)')
  world = createFakeWorld()
  server = await startWebServer({ handlers: world.handlers, hub: world.hub, staticDir })
})
afterAll(async () => {
  await server.close()
  rmSync(staticDir, { recursive: true, force: true })
})

function api(method: string, body: unknown, token: string | null = server.token) {
  return fetch(`http://127.0.0.1:${server.port}/api/${method}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token !== null ? { 'x-workbench-token': token } : {}) },
    body: JSON.stringify(body),
  })
}

/** A raw GET with a chosen Host header (fetch does not let us forge it). */
function rawGet(path: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, headers: { host } }, (res) => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', reject)
    req.end()
  })
}

describe('web server', () => {
  it('binds to loopback and prints a URL carrying the token', () => {
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/?token=${server.token}`)
    expect(server.token.length).toBeGreaterThanOrEqual(24)
  })

  it('answers 401 without the token or with a wrong one', async () => {
    expect((await api('runs:list', {}, null)).status).toBe(401)
    expect((await api('runs:list', {}, 'nope')).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(401)
    expect((await fetch(`http://127.0.0.1:${server.port}/api/events`)).status).toBe(401)
    expect(world.calls).toHaveLength(0)
  })

  it('serves the page with the token, with a strict CSP', async () => {
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('Workbench')
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).not.toContain('unsafe-eval')
  })

  it('serves static assets without the token but never outside the static folder', async () => {
    expect((await fetch(`http://127.0.0.1:${server.port}/assets/app.js`)).status).toBe(200)
    expect(await rawGet('/assets/../../../etc/passwd', `127.0.0.1:${server.port}`)).not.toBe(200)
    expect(await rawGet('/assets/%2e%2e/%2e%2e/etc/passwd', `127.0.0.1:${server.port}`)).not.toBe(200)
  })

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    expect(await rawGet(`/?token=${server.token}`, 'evil.example:80')).toBe(403)
  })

  it('calls the services and returns their result', async () => {
    const res = await api('runs:get', { id: 'run-a' })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { ok: boolean; result?: { name: string }; error?: string }
    expect(body.ok).toBe(true)
    expect(body.result?.name).toBe('tiny-a')
  })

  it('rejects bad arguments with a readable 400', async () => {
    const res = await api('runs:get', { id: 42 })
    expect(res.status).toBe(400)
    const body = (await res.json()) as { ok: boolean; result?: { name: string }; error?: string }
    expect(body.ok).toBe(false)
    expect(body.error).toMatch(/invalid arguments for runs:get: id:/)
    const notJson = await fetch(`http://127.0.0.1:${server.port}/api/runs:list`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'x-workbench-token': server.token },
      body: '{oops',
    })
    expect(notJson.status).toBe(400)
    expect(((await notJson.json()) as { error: string }).error).toMatch(/not valid JSON/)
  })

  it('reports service errors as messages, and unknown methods as 404', async () => {
    const res = await api('runs:get', { id: 'missing' })
    expect(res.status).toBe(500)
    expect(((await res.json()) as { error: string }).error).toMatch(/no run with id "missing"/)
    expect((await api('runs:explode', {})).status).toBe(404)
  })

  it('pushes events to the page over Server-Sent Events', async () => {
    const controller = new AbortController()
    const res = await fetch(`http://127.0.0.1:${server.port}/api/events?token=${server.token}`, { signal: controller.signal })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    await reader.read() // the ": connected" comment
    world.hub.emit('run:update', { id: 'run-b', status: 'stopped' })
    const { value } = await reader.read()
    const text = new TextDecoder().decode(value)
    expect(text).toContain('event: run:update')
    expect(text).toContain('"status":"stopped"')
    controller.abort()
  })

  it('refuses cross-site API calls: a text/plain body or a foreign Origin never reaches the services (issue 17)', async () => {
    const url = `http://127.0.0.1:${server.port}/api/runs:delete`
    const body = JSON.stringify({ id: 'run-a', force: true })
    const before = world.calls.length
    // What a foreign page can send without a CORS preflight: a "simple" text/plain POST.
    const simple = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'text/plain', Origin: 'https://evil.example', 'x-workbench-token': server.token },
      body,
    })
    expect(simple.status).toBe(415)
    const foreign = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: 'https://evil.example', 'x-workbench-token': server.token },
      body,
    })
    expect(foreign.status).toBe(403)
    expect(((await foreign.json()) as { error: string }).error).toMatch(/another origin/)
    expect(world.calls.length).toBe(before)
    expect(world.runs.some((r) => r.id === 'run-a')).toBe(true)
    // The page itself (same origin) is served.
    const own = await fetch(`http://127.0.0.1:${server.port}/api/runs:get`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: `http://127.0.0.1:${server.port}`, 'x-workbench-token': server.token },
      body: JSON.stringify({ id: 'run-a' }),
    })
    expect(own.status).toBe(200)
  })

  it('answers 413 to a body over the limit, not a reset connection', async () => {
    const small = await startWebServer({ handlers: world.handlers, hub: world.hub, maxBodyBytes: 1000 })
    try {
      const res = await fetch(`http://127.0.0.1:${small.port}/api/runs:list`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'x-workbench-token': small.token },
        body: JSON.stringify({ filler: 'x'.repeat(200_000) }),
      })
      expect(res.status).toBe(413)
      expect(((await res.json()) as { error: string }).error).toMatch(/over 1000 bytes/)
    } finally {
      await small.close()
    }
  })

  it('answers 400 to a path that is not valid percent-encoding', async () => {
    expect(await rawGet('/assets/%E0%A4%A', `127.0.0.1:${server.port}`)).toBe(400)
    expect(await rawGet(`/api/runs%E0%A4%A?token=${server.token}`, `127.0.0.1:${server.port}`)).toBe(400)
  })

  it('serves the renderer HTTP client, errors included', async () => {
    const base = `http://127.0.0.1:${server.port}`
    const api = createHttpApi(base, server.token)
    expect((await api.runsGet({ id: 'run-a' })).name).toBe('tiny-a')
    await expect(api.runsGet({ id: 'missing' })).rejects.toThrow('no run with id "missing"')
    await expect(createHttpApi(base, 'wrong').runsList()).rejects.toThrow(/open the URL with the token/)
  })
})
