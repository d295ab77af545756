// Main's side of the services process (see electron/server/stdio.ts for the protocol). Main never
// opens the database itself. From the repository (npm run dev / start) the services run in a plain
// `node` (WORKBENCH_NODE, else `node` on the PATH), whose ABI better-sqlite3 was built for; an
// installed app has no such Node, so it runs them in Electron's own Node (ELECTRON_RUN_AS_NODE),
// for which electron-builder rebuilt better-sqlite3 (see electron-builder.yml).

import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createInterface } from 'node:readline'
import type { EventName } from '../shared/channels'

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void }

export interface ServicesProcessOptions {
  /** The repository (or unpacked app) root holding electron/server/stdio.ts and node_modules. */
  appRoot: string
  home?: string
  /** The Electron binary, in an installed app: the services run in it as Node. Absent: plain `node`. */
  electronAsNode?: string
  onEvent: (event: EventName, payload: unknown) => void
  onPick: (title: string) => Promise<string | null>
  onExit: (message: string) => void
}

export class ServicesProcess {
  private child: ChildProcess
  private pending = new Map<number, Pending>()
  private nextId = 1
  private exited = ''
  private stopping = false

  constructor(private readonly options: ServicesProcessOptions) {
    const require = createRequire(join(options.appRoot, 'package.json'))
    const tsx = pathToFileURL(require.resolve('tsx')).href
    const args = ['--import', tsx, join(options.appRoot, 'electron/server/stdio.ts'), ...(options.home ? ['--home', options.home] : [])]
    const node = options.electronAsNode ?? (process.env.WORKBENCH_NODE || 'node')
    const env = options.electronAsNode ? { ...process.env, ELECTRON_RUN_AS_NODE: '1' } : process.env
    this.child = spawn(node, args, { cwd: options.appRoot, env, stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.onLine(line))
    this.child.on('error', (error) => this.fail(`could not start the services process with "${node}": ${error.message} (set WORKBENCH_NODE to a Node 20 binary)`))
    this.child.on('exit', (code, signal) => this.fail(`the services process ended (code ${code}, signal ${signal}); restart the app`))
  }

  call(method: string, args: unknown): Promise<unknown> {
    if (this.exited) return Promise.reject(new Error(this.exited))
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.child.stdin!.write(JSON.stringify({ id, method, args }) + '\n')
    })
  }

  /** Closing stdin asks the process to cancel its runs and exit (see stdio.ts). */
  stop(): void {
    this.stopping = true
    this.child.stdin?.end()
  }

  private onLine(line: string): void {
    let message: { id?: number; ok?: boolean; result?: unknown; error?: string; event?: EventName; payload?: unknown; pick?: number; title?: string }
    try {
      message = JSON.parse(line)
    } catch {
      return
    }
    if (message.event) return this.options.onEvent(message.event, message.payload)
    if (typeof message.pick === 'number') {
      const pickId = message.pick
      this.options
        .onPick(message.title ?? 'Pick a file')
        .catch(() => null)
        .then((path) => this.child.stdin!.write(JSON.stringify({ pickedId: pickId, path }) + '\n'))
      return
    }
    const pending = message.id !== undefined ? this.pending.get(message.id) : undefined
    if (!pending) return
    this.pending.delete(message.id!)
    if (message.ok) pending.resolve(message.result)
    else pending.reject(new Error(message.error ?? 'the services process failed'))
  }

  private fail(message: string): void {
    if (this.exited) return
    this.exited = message
    for (const p of this.pending.values()) p.reject(new Error(message))
    this.pending.clear()
    // An exit we asked for (the app is quitting) is not an error to show.
    if (!this.stopping) this.options.onExit(message)
  }
}
