// Artifacts: files and folders a run produced (checkpoints, datasets, reports), recorded with size
// and sha256. Paths inside the home are stored relative to it, so a home can be moved.

import fs from 'node:fs'
import path from 'node:path'
import type { Db } from '../db'
import { fingerprint } from '../hash'
import type { ArtifactRecord, StoredArtifact } from '../types'
import { requireText } from './rows'

interface ArtifactRow {
  id: number
  run_id: string
  kind: string
  path: string
  bytes: number
  sha256: string
  step: number | null
  meta: string
  created_at: number
}

/** Records a file or folder (size and sha256 computed now); re-recording a path replaces it. */
export function addArtifact(db: Db, home: string, runId: string, artifact: ArtifactRecord): StoredArtifact {
  const abs = absolutePath(home, artifact.path)
  const { bytes, sha256 } = fingerprint(abs)
  const stored = storedPath(home, abs)
  db.prepare(
    `INSERT INTO artifacts (run_id, kind, path, bytes, sha256, step, meta, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (run_id, path) DO UPDATE SET kind = excluded.kind, bytes = excluded.bytes,
       sha256 = excluded.sha256, step = excluded.step, meta = excluded.meta, created_at = excluded.created_at`,
  ).run(runId, requireText(artifact.kind, 'artifact kind'), stored, bytes, sha256, artifact.step ?? null, JSON.stringify(artifact.meta ?? {}), Date.now())
  return listArtifacts(db, runId).find((a) => a.path === stored)!
}

/**
 * Forgets an artifact and deletes its file(s). Files are only deleted inside the home and when
 * no other run records the same path (a child may point at its parent's checkpoint).
 */
export function removeArtifact(db: Db, home: string, runId: string, artifactPath: string): boolean {
  const abs = absolutePath(home, artifactPath)
  const stored = storedPath(home, abs)
  const forgot = db.prepare('DELETE FROM artifacts WHERE run_id = ? AND path = ?').run(runId, stored).changes === 1
  if (mayDeleteFile(db, runId, abs, stored)) fs.rmSync(abs, { recursive: true, force: true })
  return forgot
}

export function listArtifacts(db: Db, runId: string, options: { kind?: string } = {}): StoredArtifact[] {
  const rows = db
    .prepare('SELECT * FROM artifacts WHERE run_id = ? AND (? IS NULL OR kind = ?) ORDER BY created_at, id')
    .all(runId, options.kind ?? null, options.kind ?? null) as ArtifactRow[]
  return rows.map((r) => ({
    id: r.id,
    runId: r.run_id,
    kind: r.kind,
    path: r.path,
    bytes: r.bytes,
    sha256: r.sha256,
    step: r.step,
    meta: JSON.parse(r.meta),
    createdAt: r.created_at,
  }))
}

/** Absolute path of an artifact path that is absolute or relative to the home. */
export function absolutePath(home: string, p: string): string {
  return path.isAbsolute(p) ? path.normalize(p) : path.join(home, p)
}

/** Relative to the home with forward slashes when inside it, else absolute. */
export function storedPath(home: string, abs: string): string {
  const rel = path.relative(home, abs)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return abs
  return rel.split(path.sep).join('/')
}

/** Whether deleting this run's artifact may remove the file: inside the home, in no other run's folder, recorded by no other run. */
export function mayDeleteFile(db: Db, runId: string, abs: string, stored: string): boolean {
  if (stored === abs) return false // outside the home: not ours to delete
  const otherRunFolder = stored.match(/^runs\/([^/]+)\//)
  if (otherRunFolder && otherRunFolder[1] !== runId) return false
  const usedElsewhere = db.prepare('SELECT 1 FROM artifacts WHERE path = ? AND run_id != ? LIMIT 1').get(stored, runId)
  return !usedElsewhere
}
