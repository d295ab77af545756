// Where the workbench keeps its database and artifacts. The Electron app, the CLI and web mode
// all resolve the home the same way, so a run started from one shows up in the others.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** The platform's per-user app-data folder for the workbench. */
export function defaultHome(): string {
  const home = os.homedir()
  if (process.platform === 'win32') {
    const appData = process.env.APPDATA ?? path.join(home, 'AppData', 'Roaming')
    return path.join(appData, 'workbench')
  }
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'workbench')
  const configHome = process.env.XDG_CONFIG_HOME || path.join(home, '.config')
  return path.join(configHome, 'workbench')
}

/**
 * `--home` flag > `WORKBENCH_HOME` > the per-user app-data folder. Returns an absolute path and
 * creates the folder (and its `runs/`) when missing.
 */
export function resolveHome(flag?: string): string {
  const chosen = flag || process.env.WORKBENCH_HOME || defaultHome()
  const home = path.resolve(chosen)
  if (fs.existsSync(home) && !fs.statSync(home).isDirectory()) {
    throw new Error(`workbench home ${home} exists but is not a folder`)
  }
  fs.mkdirSync(path.join(home, 'runs'), { recursive: true })
  return home
}

export function dbPath(home: string): string {
  return path.join(home, 'workbench.db')
}

/** Absolute folder for one run's artifacts (checkpoints, caches, reports). */
export function runDir(home: string, runId: string): string {
  if (!/^[a-z0-9_-]+$/i.test(runId)) throw new Error(`invalid run id "${runId}"`)
  return path.join(home, 'runs', runId)
}
