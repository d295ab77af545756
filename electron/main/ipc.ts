// The IPC handlers: one per channel, each a thin shell that checks the sender is the app's own
// page, validates its argument (the renderer is untrusted) and forwards it. Kept apart from
// index.ts so it can be tested without Electron.

import { CHANNEL_NAMES, errorMessage, parseArgs, type Channel } from '../shared/api'

/** The part of Electron's ipcMain we use. */
export interface IpcMainLike {
  handle(channel: string, listener: (event: unknown, raw: unknown) => Promise<unknown>): void
}

export type Forward = (channel: Channel, args: unknown) => Promise<unknown>

export function registerIpcHandlers(ipcMain: IpcMainLike, forward: Forward, isTrusted: (event: unknown) => boolean): void {
  for (const channel of CHANNEL_NAMES) {
    ipcMain.handle(channel, async (event, raw) => {
      if (!isTrusted(event)) throw new Error(`${channel}: refused, the call does not come from the app's own page`)
      try {
        return await forward(channel, parseArgs(channel, raw))
      } catch (error) {
        // Only the message crosses to the renderer: no stack traces in the UI.
        throw new Error(errorMessage(error))
      }
    })
  }
}
