// Opening the workbench database safely: refuse what is not ours before touching it, then
// migrate by PRAGMA user_version inside one transaction.
//
// Locks: SQLite coordinates processes with POSIX fcntl locks, and on POSIX closing ANY descriptor
// of a file drops all of the process's locks on it. So this file never opens the database with
// Node's fs while this process has a connection to it: the header is read only before the
// process's first connection (connections are counted per file). Otherwise an outside reader
// (the sqlite3 CLI, a backup tool) would believe it was the last connection and delete -wal and
// -shm under the live store.

import fs from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { MIGRATIONS, SCHEMA_VERSION } from './migrations'

export type Db = Database.Database

/** Every SQLite 3 database file starts with these 16 bytes. */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/** How long a writer waits for another writer's lock before giving up. */
const BUSY_TIMEOUT_MS = 5000

/** A database file the store refuses to use (corrupt, not SQLite, or from a newer workbench). */
export class DatabaseFileError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(message)
    this.name = 'DatabaseFileError'
  }
}

/**
 * Opens (or creates) the database at `file` and brings its schema up to date.
 * A file that is not SQLite, is corrupt, or was written by a newer version is refused
 * with a DatabaseFileError and left exactly as it was.
 */
export function openDatabase(file: string): Db {
  const key = connectionKey(file)
  if (!openConnections.has(key)) checkHeader(file)
  let db: Db
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  } catch (err) {
    throw unreadable(file, err)
  }
  // Counted from here: any close, even the one below on a refused file, goes through closeDatabase.
  openConnections.set(key, (openConnections.get(key) ?? 0) + 1)
  connectionKeys.set(db, key)
  try {
    // Read the version before any write, so a newer database is never modified.
    const version = readUserVersion(db, file)
    if (version > SCHEMA_VERSION) {
      throw new DatabaseFileError(
        file,
        `${file} was written by a newer workbench (schema version ${version}; this one understands up to ` +
          `${SCHEMA_VERSION}). It was not modified. Update the workbench, or use another --home.`,
      )
    }
    configure(db)
    migrate(db, version)
    return db
  } catch (err) {
    closeDatabase(db)
    if (err instanceof DatabaseFileError) throw err
    throw unreadable(file, err)
  }
}

/** Open connections of this process, per database file (see the note at the top). */
const openConnections = new Map<string, number>()
const connectionKeys = new WeakMap<Db, string>()

/** Closes a connection opened by openDatabase (always close through here, so the count stays true). */
export function closeDatabase(db: Db): void {
  if (!db.open) return
  db.close()
  const key = connectionKeys.get(db)
  if (key === undefined) return
  const left = (openConnections.get(key) ?? 1) - 1
  if (left > 0) openConnections.set(key, left)
  else openConnections.delete(key)
}

/** One key per file, however it is named (relative path, symlinked folder). */
function connectionKey(file: string): string {
  const abs = path.resolve(file)
  try {
    return path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs))
  } catch {
    return abs
  }
}

/** A non-empty file must start with the SQLite header; an empty or missing file becomes a new database. */
function checkHeader(file: string): void {
  if (!fs.existsSync(file)) return
  const stat = fs.statSync(file)
  if (!stat.isFile()) throw new DatabaseFileError(file, `${file} is not a file, so it cannot be the workbench database.`)
  if (stat.size === 0) return
  const head = Buffer.alloc(SQLITE_HEADER.length)
  const fd = fs.openSync(file, 'r')
  try {
    fs.readSync(fd, head, 0, head.length, 0)
  } finally {
    fs.closeSync(fd)
  }
  if (!head.equals(SQLITE_HEADER)) {
    throw new DatabaseFileError(
      file,
      `${file} is not an SQLite database (its first bytes are not "SQLite format 3"). ` +
        `It was not modified. Move it away or use another --home.`,
    )
  }
}

function readUserVersion(db: Db, file: string): number {
  const version = db.pragma('user_version', { simple: true })
  if (typeof version !== 'number') throw new DatabaseFileError(file, `${file}: could not read the schema version`)
  return version
}

function configure(db: Db): void {
  // WAL: readers (the app) read while a training process writes.
  db.pragma('journal_mode = WAL')
  // In WAL mode NORMAL is safe against process crashes (SIGKILL) and keeps the file consistent on
  // power loss; only the last commits before a power cut may be lost. FULL would fsync every batch.
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
}

function migrate(db: Db, fromVersion: number): void {
  const pending = MIGRATIONS.filter((m) => m.version > fromVersion)
  if (pending.length === 0) return
  // One transaction: a crash mid-migration leaves the old version intact. BEGIN IMMEDIATE so two
  // processes opening a fresh database at once do not both migrate.
  const apply = db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number
    for (const m of MIGRATIONS.filter((m) => m.version > current)) {
      db.exec(m.sql)
      db.pragma(`user_version = ${m.version}`)
    }
  })
  apply.immediate()
}

function unreadable(file: string, err: unknown): DatabaseFileError {
  const detail = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: string } | null)?.code ?? ''
  const corrupt = code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')
  return new DatabaseFileError(
    file,
    corrupt
      ? `${file} is corrupt (${detail}). It was not modified. Restore it from a backup or move it away.`
      : `${file} could not be opened as the workbench database (${detail}).`,
  )
}
