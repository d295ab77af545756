// The bridge: one typed method per channel (each bound to its own channel, so the page cannot
// name arbitrary ones) and `on(event, listener)` returning an unsubscribe. Nothing else of
// Electron or Node reaches the page.

import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron'
import { CHANNELS, isEventName } from '../shared/channels'

const api: Record<string, unknown> = {}
for (const [method, channel] of Object.entries(CHANNELS)) {
  api[method] = async (args?: unknown) => {
    try {
      return await ipcRenderer.invoke(channel, args ?? {})
    } catch (error) {
      // Electron prefixes "Error invoking remote method '<channel>': Error: "; the user needs the rest.
      const message = error instanceof Error ? error.message : String(error)
      throw new Error(message.replace(/^Error invoking remote method '[^']+': (Error: )?/, ''))
    }
  }
}

api.on = (event: string, listener: (payload: unknown) => void) => {
  if (!isEventName(event)) throw new Error(`unknown event "${event}"`)
  const wrapped = (_e: IpcRendererEvent, payload: unknown) => listener(payload)
  ipcRenderer.on(event, wrapped)
  return () => {
    ipcRenderer.removeListener(event, wrapped)
  }
}

contextBridge.exposeInMainWorld('workbench', Object.freeze(api))
