// Electron main: one window (contextIsolation, sandbox, no nodeIntegration), IPC handlers that
// validate their argument and forward it to the services process, and events pushed back to the
// window. Training never runs here: the services process starts one worker process per run.

import { app, BrowserWindow, dialog, ipcMain } from 'electron'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { registerIpcHandlers } from './ipc'
import { isTrustedSender, type AppLocation, type IpcSenderLike } from './policy'
import { hardenSession } from './security'
import { ServicesProcess } from './servicesProcess'

const here = fileURLToPath(new URL('.', import.meta.url))
let services: ServicesProcess | null = null
/** The one page the window shows; navigation, resources and IPC are checked against it. */
const appLocation: AppLocation = { rendererFile: join(here, '../renderer/index.html'), devUrl: process.env.ELECTRON_RENDERER_URL }

function createWindow(): BrowserWindow {
  const window = new BrowserWindow({
    width: 1360,
    height: 880,
    title: 'Workbench',
    // Windows and Linux take the window icon from here; macOS from the bundle's icon.icns.
    icon: appIcon(),
    show: false,
    webPreferences: {
      preload: join(here, '../preload/index.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  })
  window.once('ready-to-show', () => window.show())
  if (process.env.ELECTRON_RENDERER_URL) void window.loadURL(process.env.ELECTRON_RENDERER_URL)
  else void window.loadFile(appLocation.rendererFile)
  return window
}

/** resources/icon.png in the repository or the installed app (asar is off: a plain file). */
function appIcon(): string | undefined {
  const file = join(app.getAppPath(), 'resources', 'icon.png')
  return existsSync(file) ? file : undefined
}

function sendToWindows(event: string, payload: unknown): void {
  for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(event, payload)
}

async function pickFile(title: string): Promise<string | null> {
  const window = BrowserWindow.getFocusedWindow() ?? BrowserWindow.getAllWindows()[0]
  const options = { title, properties: ['openFile' as const], filters: [{ name: 'Data', extensions: ['txt', 'md', 'text', 'jsonl', 'json', 'gz'] }, { name: 'All files', extensions: ['*'] }] }
  const result = window ? await dialog.showOpenDialog(window, options) : await dialog.showOpenDialog(options)
  return result.canceled ? null : (result.filePaths[0] ?? null)
}

app.whenReady().then(() => {
  hardenSession(appLocation)
  services = new ServicesProcess({
    appRoot: app.getAppPath(),
    home: process.env.WORKBENCH_HOME,
    electronAsNode: app.isPackaged ? process.execPath : undefined,
    onEvent: sendToWindows,
    onPick: pickFile,
    onExit: (message) => dialog.showErrorBox('Workbench', message),
  })
  registerIpcHandlers(
    ipcMain,
    (channel, args) => services!.call(channel, args),
    (event) => isTrustedSender(event as IpcSenderLike, appLocation),
  )
  createWindow()
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow()
  })
})

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit()
})
app.on('before-quit', () => services?.stop())
