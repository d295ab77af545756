// The API implemented over core: the SQLite store for everything recorded, the stage registry for
// forms, the job runner for starting / cancelling / resuming runs, and the chat engine for the
// playground. Main (through the services process) and web mode both serve exactly these handlers.
//
// Arguments arrive already validated by the zod schemas in electron/shared/api.ts; what is left
// here is checking them against the world (does the run exist, is the path allowed).
//
// The handlers live by domain in services/ (runs, stages, files, chat, system) and annotations.ts,
// each a createXHandlers(ctx) returning its channels; they share one ServiceContext
// (services/context.ts). A new channel goes in its domain's file; a new domain is one file and
// one `...createXHandlers(ctx)` line below.

import type { ApiHandlers } from '../shared/api'
import type { UploadDataset } from './web'
import { createAnnotationHandlers } from './annotations'
import { createContext, type ServicesOptions } from './services/context'
import { startLiveRuns } from './services/liveRuns'
import { createRunHandlers } from './services/runs'
import { createStageHandlers } from './services/stages'
import { createFileHandlers } from './services/files'
import { createDatasetHandlers, saveUploadedDataset } from './services/datasets'
import { createChatHandlers } from './services/chat'
import { createSystemHandlers } from './services/system'
import { createSafetyHandlers } from './safety'
import { createWinrateHandlers } from './services/winrate'
import { createRlhfHandlers } from './services/rlhf'

export type { ServicesOptions } from './services/context'

export interface Services {
  handlers: ApiHandlers
  home: string
  /** Web mode's upload route: a file streamed into <home>/datasets (never over an existing one). */
  uploadDataset: UploadDataset
  close(): Promise<void>
}

export function createServices(options: ServicesOptions): Services {
  const ctx = createContext(options)
  const stopLiveRuns = startLiveRuns(ctx, options.watchIntervalMs ?? 3000)

  const handlers: ApiHandlers = {
    ...createRunHandlers(ctx),
    ...createStageHandlers(ctx),
    ...createFileHandlers(ctx),
    ...createDatasetHandlers(ctx),
    ...createChatHandlers(ctx),
    ...createAnnotationHandlers(ctx),
    ...createSafetyHandlers(ctx),
    ...createSystemHandlers(ctx),
    ...createWinrateHandlers(ctx),
    ...createRlhfHandlers(ctx),
  }

  return {
    handlers,
    home: ctx.home,
    uploadDataset: (name, body, declaredBytes) => saveUploadedDataset(ctx.home, name, body, { declaredBytes }),
    async close() {
      stopLiveRuns()
      for (const id of ctx.runner.jobs().running) ctx.runner.cancel(id)
      ctx.chat.dispose()
      ctx.store.close()
    },
  }
}
