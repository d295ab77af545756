// The services process of the desktop app: `node --import tsx electron/server/stdio.ts --home DIR`.
// Electron's main process cannot load better-sqlite3 built for Node (different ABI), so main
// spawns this plain Node process and talks to it with one JSON object per line:
//
//   main -> here   { "id": 1, "method": "runs:list", "args": {...} }
//                  { "pickedId": 7, "path": "/home/me/data.txt" | null }   (answer to a pick)
//   here -> main   { "id": 1, "ok": true, "result": ... } | { "id": 1, "ok": false, "error": "..." }
//                  { "event": "run:update", "payload": {...} }
//                  { "pick": 7, "title": "..." }   (ask main to show the native file dialog)
//
// stdout carries only this protocol: console.log is sent to stderr so a chatty library cannot
// break the stream.

import { createInterface } from 'node:readline'
import { resolveHome } from '../../core/tracking/home'
import { dispatch, errorMessage } from '../shared/api'
import { EventHub } from './eventHub'
import { createServices } from './services'

console.log = console.error

function send(message: unknown): void {
  process.stdout.write(JSON.stringify(message) + '\n')
}

const homeFlag = process.argv.indexOf('--home')
const home = resolveHome(homeFlag >= 0 ? process.argv[homeFlag + 1] : undefined)
const hub = new EventHub()
hub.subscribe((event, payload) => send({ event, payload }))

const pendingPicks = new Map<number, (path: string | null) => void>()
let nextPick = 1
function pickFile(title: string): Promise<string | null> {
  const id = nextPick++
  send({ pick: id, title })
  return new Promise((resolve) => pendingPicks.set(id, resolve))
}

const services = createServices({ home, emit: hub.emit, mode: 'desktop', pickFile })

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  let message: { id?: number; method?: string; args?: unknown; pickedId?: number; path?: string | null }
  try {
    message = JSON.parse(line)
  } catch {
    console.error(`services: ignoring a line that is not JSON: ${line.slice(0, 200)}`)
    return
  }
  if (typeof message.pickedId === 'number') {
    pendingPicks.get(message.pickedId)?.(message.path ?? null)
    pendingPicks.delete(message.pickedId)
    return
  }
  const id = message.id
  dispatch(services.handlers, String(message.method), message.args)
    .then((result) => send({ id, ok: true, result: result ?? null }))
    .catch((error) => send({ id, ok: false, error: errorMessage(error) }))
})
// Main closed the pipe (the app quit): stop runs cleanly and exit.
lines.on('close', async () => {
  await services.close()
  process.exit(0)
})
