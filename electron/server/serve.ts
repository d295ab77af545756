// Web mode entry: `node --import tsx electron/server/serve.ts [--home DIR] [--port N] [--static DIR]`.
// Starts the services over the workbench home and the HTTP + SSE server on 127.0.0.1, then prints
// the URL (with its token) to open. scripts/start.mjs runs this; so does the e2e harness.

import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { resolveHome } from '../../core/tracking/home'
import { EventHub } from './eventHub'
import { createServices } from './services'
import { defaultStaticDir, startWebServer } from './web'

interface ServeArgs {
  home?: string
  port: number
  staticDir: string
  token?: string
}

function parseArgs(argv: string[]): ServeArgs {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
  const out: ServeArgs = { port: 0, staticDir: defaultStaticDir(repoRoot) }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]
    const value = argv[i + 1]
    const need = () => {
      if (value === undefined || value.startsWith('--')) throw new Error(`serve: ${flag} needs a value`)
      i += 1
      return value
    }
    if (flag === '--home') out.home = need()
    else if (flag === '--port') out.port = Number(need())
    else if (flag === '--static') out.staticDir = path.resolve(need())
    else throw new Error(`serve: unknown option ${flag} (known: --home, --port, --static)`)
  }
  if (!Number.isInteger(out.port) || out.port < 0 || out.port > 65535) throw new Error(`serve: --port must be 0-65535`)
  // A fixed token can be handed in by a parent process (the e2e harness) through the environment.
  out.token = process.env.WORKBENCH_TOKEN || undefined
  return out
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const home = resolveHome(args.home)
  const hub = new EventHub()
  const services = createServices({ home, emit: hub.emit, mode: 'web' })
  const server = await startWebServer({ handlers: services.handlers, hub, staticDir: args.staticDir, port: args.port, token: args.token, uploadDataset: services.uploadDataset })
  console.log(`Workbench web mode: open ${server.url}`)
  console.log(`  home: ${home}  (Ctrl+C to stop)`)
  const stop = async () => {
    await server.close()
    await services.close()
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

main().catch((error) => {
  console.error(`workbench serve: ${(error as Error).message}`)
  process.exit(1)
})
