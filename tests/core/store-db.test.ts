import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { DatabaseFileError, openDatabase } from '../../core/tracking/db'
import { SCHEMA_VERSION } from '../../core/tracking/migrations'
import { Store } from '../../core/tracking/store'
import { dbPath, resolveHome, runDir } from '../../core/tracking/home'

let home: string

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-db-'))
})
afterEach(() => {
  fs.rmSync(home, { recursive: true, force: true })
})

function snapshot(file: string): Buffer {
  return fs.readFileSync(file)
}

describe('home', () => {
  it('resolves --home over WORKBENCH_HOME and creates the folder', () => {
    const flag = path.join(home, 'from-flag')
    const env = path.join(home, 'from-env')
    const saved = process.env.WORKBENCH_HOME
    process.env.WORKBENCH_HOME = env
    try {
      expect(resolveHome(flag)).toBe(flag)
      expect(resolveHome()).toBe(env)
      expect(fs.existsSync(path.join(env, 'runs'))).toBe(true)
    } finally {
      if (saved === undefined) delete process.env.WORKBENCH_HOME
      else process.env.WORKBENCH_HOME = saved
    }
    expect(dbPath(flag)).toBe(path.join(flag, 'workbench.db'))
    expect(runDir(flag, 'abc123')).toBe(path.join(flag, 'runs', 'abc123'))
    expect(() => runDir(flag, '../escape')).toThrow(/invalid run id/)
    fs.writeFileSync(path.join(home, 'a-file'), 'x')
    expect(() => resolveHome(path.join(home, 'a-file'))).toThrow(/not a folder/)
  })
})

describe('opening the database', () => {
  it('creates a WAL database at the current schema version with foreign keys on', () => {
    const store = Store.open(home)
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(store.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1)
    expect(store.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0)
    store.close()
    // Reopening does not migrate again.
    const again = Store.open(home)
    expect(again.listExperiments().map((e) => e.name)).toEqual(['default'])
    again.close()
  })

  it('refuses a database from a newer version and leaves it untouched', () => {
    const file = dbPath(home)
    const future = new Database(file)
    future.exec('CREATE TABLE future_things (x INTEGER)')
    future.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
    future.close()
    const before = snapshot(file)
    expect(() => Store.open(home)).toThrow(DatabaseFileError)
    expect(() => Store.open(home)).toThrow(new RegExp(`newer workbench \\(schema version ${SCHEMA_VERSION + 1}`))
    expect(() => Store.open(home)).toThrow(file)
    expect(snapshot(file).equals(before)).toBe(true)
    expect(fs.existsSync(file + '-wal')).toBe(false)
  })

  it('refuses a file that is not SQLite, naming it, and never overwrites it', () => {
    const file = dbPath(home)
    fs.writeFileSync(file, 'this is my thesis, not a database\n'.repeat(100))
    const before = snapshot(file)
    let error: unknown
    try {
      Store.open(home)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(DatabaseFileError)
    expect((error as DatabaseFileError).file).toBe(file)
    expect((error as Error).message).toMatch(/is not an SQLite database/)
    expect(snapshot(file).equals(before)).toBe(true)
  })

  it('refuses an SQLite file whose pages are corrupt, and leaves it as it was', () => {
    const file = dbPath(home)
    const store = Store.open(home)
    const run = store.createRun({ stage: 'pretrain', config: {} })
    store.recordBatch(run.id, { metrics: Array.from({ length: 2000 }, (_, step) => ({ step, key: 'k', value: step, wallTime: step })) })
    store.close()
    // Keep the valid header page, overwrite the rest with garbage.
    const bytes = snapshot(file)
    for (let i = 100; i < bytes.length; i++) bytes[i] = (i * 131) & 0xff
    fs.writeFileSync(file, bytes)
    const before = snapshot(file)
    expect(() => Store.open(home)).toThrow(DatabaseFileError)
    expect(() => Store.open(home)).toThrow(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (is corrupt|could not be opened)`))
    expect(snapshot(file).equals(before)).toBe(true)
  })

  it('treats an empty file as a new database', () => {
    fs.writeFileSync(dbPath(home), '')
    const db = openDatabase(dbPath(home))
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION)
    db.close()
  })
})

describe('locks held by a live store (issue 17)', () => {
  // On POSIX, closing any descriptor of a file drops all of the process's fcntl locks on it. If
  // the store ever opened workbench.db outside SQLite while another connection was open, an
  // outside reader (the sqlite3 CLI) would believe it was the last connection and delete -wal and
  // -shm under the live store.
  const sqlite3 = '/usr/bin/sqlite3'
  const haveCli = fs.existsSync(sqlite3)
  if (!haveCli && process.env.CI) throw new Error(`${sqlite3} is required in CI (apt-get install sqlite3)`)

  it.skipIf(!haveCli)('keeps the WAL files and a working connection when sqlite3 reads while another Store.open/close happened', () => {
    const live = Store.open(home)
    live.createRun({ stage: 'pretrain', config: { a: 1 } })
    const file = dbPath(home)
    expect(fs.existsSync(`${file}-wal`)).toBe(true)
    // Another store in the same process opens and closes (the job runner does this all the time).
    Store.open(home).close()
    const out = execFileSync(sqlite3, [file, 'select count(*) from runs'], { encoding: 'utf8' })
    expect(out.trim()).toBe('1')
    expect(fs.existsSync(`${file}-wal`)).toBe(true)
    expect(fs.existsSync(`${file}-shm`)).toBe(true)
    // The live store still reads and writes.
    live.createRun({ stage: 'pretrain', config: { a: 2 } })
    expect(live.listRuns().length).toBe(2)
    const again = execFileSync(sqlite3, [file, 'select count(*) from runs; pragma integrity_check;'], { encoding: 'utf8' })
    expect(again.trim().split('\n')).toEqual(['2', 'ok'])
    live.close()
  })
})
