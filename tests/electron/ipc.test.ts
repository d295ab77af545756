// Main's IPC shells with fake services, and the real services process over its stdio protocol.
import { describe, it, expect, afterAll } from 'vitest'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { registerIpcHandlers, type IpcMainLike } from '../../electron/main/ipc'
import { ServicesProcess } from '../../electron/main/servicesProcess'
import { CHANNEL_NAMES, dispatch } from '../../electron/shared/api'
import { createFakeWorld } from './fakeServices'

describe('IPC handlers', () => {
  const world = createFakeWorld()
  const handlers = new Map<string, (event: unknown, raw: unknown) => Promise<unknown>>()
  const ipcMain: IpcMainLike = { handle: (channel, listener) => void handlers.set(channel, listener) }
  registerIpcHandlers(ipcMain, (channel, args) => dispatch(world.handlers, channel, args))

  it('registers exactly one handler per channel', () => {
    expect([...handlers.keys()].sort()).toEqual([...CHANNEL_NAMES].sort())
  })

  it('forwards valid calls and rejects bad arguments before they reach the services', async () => {
    expect(await handlers.get('runs:get')!({}, { id: 'run-a' })).toMatchObject({ name: 'tiny-a' })
    await expect(handlers.get('runs:get')!({}, { id: 'a/../../b' })).rejects.toThrow(/invalid arguments for runs:get: id/)
    await expect(handlers.get('runs:cancel')!({}, { id: 'run-b', force: true })).rejects.toThrow(/runs:cancel/)
    expect(world.calls.map((c) => c.channel)).toEqual(['runs:get'])
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
