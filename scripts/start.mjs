#!/usr/bin/env node
// `npm start`: the desktop app when the Electron binary can run here, otherwise web mode.
// `npm run serve` (--web) always starts web mode. Other options (--home DIR, --port N) are passed
// to the web server.
//
// Web mode builds the renderer into dist-web/ when it is missing or older than its sources, then
// starts electron/server/serve.ts, which prints the URL (with its access token) to open.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const args = process.argv.slice(2)
const forceWeb = args.includes('--web')
const passThrough = args.filter((a) => a !== '--web')

/** The Electron binary's path, or the reason it cannot be used here. */
function electronBinary() {
  let binary
  try {
    binary = require('electron') // the npm package exports the binary's path; throws when it was never downloaded
  } catch (error) {
    return { reason: String(error.message).split('\n')[0] }
  }
  if (typeof binary !== 'string' || !existsSync(binary)) return { reason: `no binary at ${binary}` }
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return { reason: 'no display: DISPLAY and WAYLAND_DISPLAY are unset' }
  return { binary }
}

function newestMtime(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs)
  }
  return newest
}

function run(command, commandArgs) {
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

function buildRendererIfStale() {
  const index = join(root, 'dist-web', 'index.html')
  const sources = Math.max(newestMtime(join(root, 'renderer')), newestMtime(join(root, 'electron', 'shared')))
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return
  console.log('Building the web renderer (dist-web/)…')
  run(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'renderer/vite.web.config.ts', '--logLevel', 'warn'])
}

function startWeb() {
  buildRendererIfStale()
  const tsx = pathToFileURL(require.resolve('tsx')).href
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'electron/server/serve.ts'), ...passThrough], { cwd: root, stdio: 'inherit' })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
  child.on('exit', (code) => process.exit(code ?? 0))
}

function startDesktop(binary) {
  run(process.execPath, [join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build', '--logLevel', 'warn'])
  const child = spawn(binary, [root], { cwd: root, stdio: 'inherit' })
  child.on('exit', (code) => process.exit(code ?? 0))
}

if (forceWeb) {
  startWeb()
} else {
  const electron = electronBinary()
  if (electron.binary) {
    startDesktop(electron.binary)
  } else {
    console.log(`Electron binary not available (${electron.reason}); starting web mode`)
    startWeb()
  }
}
