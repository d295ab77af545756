// Main's IPC shells with fake services, and the real services process over its stdio protocol.
import { describe, it, expect, afterAll } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { registerIpcHandlers, type IpcMainLike } from '../../electron/main/ipc'
import { isAllowedExternalUrl, isAppPage, isAppResource, isTrustedSender, type AppLocation } from '../../electron/main/policy'
import { pathToFileURL } from 'node:url'
import { ServicesProcess } from '../../electron/main/servicesProcess'
import { CHANNEL_NAMES, dispatch } from '../../electron/shared/api'
import { createFakeWorld } from './fakeServices'

describe('IPC handlers', () => {
  const world = createFakeWorld()
  const handlers = new Map<string, (event: unknown, raw: unknown) => Promise<unknown>>()
  const ipcMain: IpcMainLike = { handle: (channel, listener) => void handlers.set(channel, listener) }
  const app: AppLocation = { rendererFile: resolve('/opt/workbench/out/renderer/index.html') }
  const page = pathToFileURL(app.rendererFile).href
  registerIpcHandlers(
    ipcMain,
    (channel, args) => dispatch(world.handlers, channel, args),
    (event) => isTrustedSender(event as Parameters<typeof isTrustedSender>[0], app),
  )
  const fromApp = { senderFrame: { url: `${page}#/runs`, parent: null } }

  it('registers exactly one handler per channel', () => {
    expect([...handlers.keys()].sort()).toEqual([...CHANNEL_NAMES].sort())
  })

  it('forwards valid calls and rejects bad arguments before they reach the services', async () => {
    expect(await handlers.get('runs:get')!(fromApp, { id: 'run-a' })).toMatchObject({ name: 'tiny-a' })
    await expect(handlers.get('runs:get')!(fromApp, { id: 'a/../../b' })).rejects.toThrow(/invalid arguments for runs:get: id/)
    await expect(handlers.get('runs:cancel')!(fromApp, { id: 'run-b', force: true })).rejects.toThrow(/runs:cancel/)
    expect(world.calls.map((c) => c.channel)).toEqual(['runs:get'])
  })

  it("answers only the app's own top-level page (issue 17)", async () => {
    const before = world.calls.length
    const strangers = [
      {},
      { senderFrame: null },
      { senderFrame: { url: 'file:///etc/passwd', parent: null } },
      { senderFrame: { url: 'https://evil.example/', parent: null } },
      { senderFrame: { url: page, parent: { url: page } } },
    ]
    for (const event of strangers) {
      await expect(handlers.get('runs:delete')!(event, { id: 'run-a' })).rejects.toThrow(/does not come from the app's own page/)
    }
    expect(world.calls.length).toBe(before)
  })
})

describe('window policy (issue 17)', () => {
  const app: AppLocation = { rendererFile: resolve('/opt/workbench/out/renderer/index.html') }
  const page = pathToFileURL(app.rendererFile).href
  const asset = pathToFileURL(resolve('/opt/workbench/out/renderer/assets/index-1.js')).href

  it('navigates only to the renderer page, never to another local file', () => {
    expect(isAppPage(page, app)).toBe(true)
    expect(isAppPage(`${page}#/runs/abc`, app)).toBe(true)
    expect(isAppPage('file:///etc/passwd', app)).toBe(false)
    expect(isAppPage(asset, app)).toBe(false)
    expect(isAppPage(pathToFileURL(resolve('/opt/workbench/out/renderer/../../secret.html')).href, app)).toBe(false)
    expect(isAppPage('https://evil.example/', app)).toBe(false)
    expect(isAppPage('http://localhost:5173/', app)).toBe(false)
    expect(isAppPage('http://localhost:5173/#/x', { ...app, devUrl: 'http://localhost:5173/' })).toBe(true)
  })

  it("loads only the renderer's own files", () => {
    expect(isAppResource(asset, app)).toBe(true)
    expect(isAppResource('file:///etc/passwd', app)).toBe(false)
    expect(isAppResource('file:///opt/workbench/out/renderer/../main/index.js', app)).toBe(false)
    expect(isAppResource('file:///opt/workbench/out/renderer-evil/x.js', app)).toBe(false)
    expect(isAppResource('https://cdn.example/x.js', app)).toBe(false)
  })

  it('opens only https links on documentation hosts in the browser', () => {
    expect(isAllowedExternalUrl('https://github.com/meta-llama/llama')).toBe(true)
    expect(isAllowedExternalUrl('https://huggingface.co/docs')).toBe(true)
    expect(isAllowedExternalUrl('https://evil.example/')).toBe(false)
    expect(isAllowedExternalUrl('https://github.com.evil.example/')).toBe(false)
    expect(isAllowedExternalUrl('https://user@github.com/')).toBe(false)
    expect(isAllowedExternalUrl('http://github.com/')).toBe(false)
    expect(isAllowedExternalUrl('file:///etc/passwd')).toBe(false)
  })
})

describe('services process (stdio protocol)', () => {
  const home = mkdtempSync(join(tmpdir(), 'wb-stdio-'))
  const seen: string[] = []
  let exited = ''
  const proc = new ServicesProcess({
    appRoot: resolve(__dirname, '../..'),
    home,
    onEvent: (event) => seen.push(event),
    onPick: async () => join(home, 'picked.txt'),
    onExit: (message) => (exited = message),
  })
  afterAll(() => {
    proc.stop()
    rmSync(home, { recursive: true, force: true })
  })

  it('answers calls, reports errors as messages, and stops cleanly', async () => {
    const info = (await proc.call('system:info', {})) as { home: string; mode: string }
    expect(info).toMatchObject({ home, mode: 'desktop' })
    expect(await proc.call('runs:list', {})).toEqual([])
    await expect(proc.call('runs:get', { id: 'nope' })).rejects.toThrow(/no run with id "nope"/)
    await expect(proc.call('runs:get', { id: 42 })).rejects.toThrow(/invalid arguments/)
    expect(exited).toBe('')
  }, 60_000)

  it('asks main for the native file dialog and allows the picked file', async () => {
    writeFileSync(join(home, 'picked.txt'), 'hello')
    expect(await proc.call('datasets:pick', { title: 'Pick' })).toMatchObject({ name: 'picked.txt', bytes: 5 })
  }, 60_000)
})
