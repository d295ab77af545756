// Opening the workbench database safely: refuse what is not ours before touching it, then
// migrate by PRAGMA user_version inside one transaction.

import fs from 'node:fs'
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
  checkHeader(file)
  let db: Db
  try {
    db = new Database(file, { timeout: BUSY_TIMEOUT_MS })
  } catch (err) {
    throw unreadable(file, err)
  }
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
    db.close()
    if (err instanceof DatabaseFileError) throw err
    throw unreadable(file, err)
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
