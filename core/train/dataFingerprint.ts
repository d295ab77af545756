// What a run trained on, so a resume can refuse changed data. The loop's data cursor only says
// "batch k of epoch e"; on different files the same cursor means different batches, and the
// resumed curve would silently be a different run. Every file under the data paths is recorded
// with its size, modification time and sha256; on resume a file with the same size and time is
// taken as unchanged, and one whose time moved (a copy, a touch) is hashed again before it counts
// as changed.
import fs from 'node:fs'
import path from 'node:path'
import { fingerprint, listFilesSorted } from '../tracking/hash'

export interface DataFileStamp {
  path: string
  bytes: number
  mtimeMs: number
  sha256: string
}

/** Every file under `paths` (files, or folders walked recursively), sorted, with its stamp. */
export function fingerprintData(paths: string[]): DataFileStamp[] {
  return dataFiles(paths).map((file) => {
    const stat = fs.statSync(file)
    return { path: file, bytes: stat.size, mtimeMs: stat.mtimeMs, sha256: sha256Of(file) }
  })
}

/** Null when the data is as recorded, else a sentence naming the first changed, added or removed file. */
export function dataChange(recorded: DataFileStamp[], paths: string[]): string | null {
  const now = dataFiles(paths)
  const before = new Map(recorded.map((s) => [s.path, s]))
  for (const file of now) {
    const old = before.get(file)
    if (!old) return `${file} was added`
    const stat = fs.statSync(file)
    if (stat.size !== old.bytes) return `${file} changed size (${old.bytes} -> ${stat.size} bytes)`
    if (stat.mtimeMs !== old.mtimeMs && sha256Of(file) !== old.sha256) return `${file} changed content`
    before.delete(file)
  }
  const missing = before.keys().next()
  return missing.done ? null : `${missing.value} is gone`
}

function dataFiles(paths: string[]): string[] {
  const files: string[] = []
  for (const p of paths) {
    const abs = path.resolve(p)
    if (!fs.existsSync(abs)) continue // the caller's reader names missing data; here it only cannot match
    if (fs.statSync(abs).isDirectory()) files.push(...listFilesSorted(abs).map((rel) => path.join(abs, rel)))
    else files.push(abs)
  }
  return [...new Set(files)]
}

function sha256Of(file: string): string {
  return fingerprint(file).sha256 // streamed: corpora can be large
}
