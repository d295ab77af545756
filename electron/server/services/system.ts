// What the app shows about itself: version, home, mode, platform and the compute backend.

import path from 'node:path'
import { createRequire } from 'node:module'
import type { ApiHandlers, SystemInfo } from '../../shared/api'
import type { ServiceContext } from './context'

export function createSystemHandlers(ctx: ServiceContext) {
  return {
    'system:info': async (): Promise<SystemInfo> => ({
      version: packageVersion(),
      home: ctx.home,
      mode: ctx.options.mode,
      platform: `${process.platform} ${process.arch}`,
      nodeVersion: process.version,
      backend: ctx.chat.backend,
    }),
  } satisfies Partial<ApiHandlers>
}

const require = createRequire(import.meta.url)

/** The project folder (where package.json and resources/ are). */
export function repoRoot(): string {
  return path.resolve(path.dirname(require.resolve('../../../package.json')))
}

function packageVersion(): string {
  return (require('../../../package.json') as { version: string }).version
}
