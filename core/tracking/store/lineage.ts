// Lineage (which runs a run came from, and which came from it) and deleting a run, which the
// lineage guards: a run others descend from is only deleted when forced.

import fs from 'node:fs'
import { runDir } from '../home'
import type { Db } from '../db'
import type { Lineage, LineageEdge, LineageNode, RunRelative, RunStatus } from '../types'
import type { Store } from '../store'
import { getRunRecord } from './rows'
import { mayDeleteFile } from './artifacts'

export interface DeleteResult {
  runId: string
  /** Files and folders removed from the home. */
  deletedPaths: string[]
}

/** Thrown by deleteRun when other runs descend from the run and force was not given. */
export class RunHasChildrenError extends Error {
  constructor(
    readonly runId: string,
    readonly children: RunRelative[],
  ) {
    const names = children.map((c) => `${c.runId}${c.name ? ` (${c.stage} "${c.name}")` : ''}`).join(', ')
    super(
      `run ${runId} has ${children.length} run(s) descending from it: ${names}. ` +
        `Deleting it removes its files (checkpoints they may start from) and leaves them with a deleted parent; ` +
        `pass force to delete anyway.`,
    )
    this.name = 'RunHasChildrenError'
  }
}

type WalkRow = { id: string; depth: number; name: string | null; stage: string | null; status: RunStatus | null }

/** Ancestors (parents, their parents ...) and descendants of a run, with the edges between them. */
export function lineage(db: Db, id: string): Lineage {
  getRunRecord(db, id)
  // Parents must exist when a run is created, so the graph has no cycles; depth caps it anyway.
  const walk = (from: string, to: string) =>
    db
      .prepare(
        `WITH RECURSIVE walk(id, depth) AS (
           SELECT ${to}, 1 FROM run_parents WHERE ${from} = ?
           UNION
           SELECT p.${to}, w.depth + 1 FROM run_parents p JOIN walk w ON p.${from} = w.id WHERE w.depth < 100)
         SELECT w.id, min(w.depth) AS depth, r.name, r.stage, r.status
         FROM walk w LEFT JOIN runs r ON r.id = w.id GROUP BY w.id ORDER BY depth, w.id`,
      )
      .all(id) as WalkRow[]
  const toNode = (r: WalkRow): LineageNode => ({
    runId: r.id,
    depth: r.depth,
    exists: r.name !== null,
    ...(r.name !== null ? { name: r.name, stage: r.stage!, status: r.status! } : {}),
  })
  const ancestors = walk('run_id', 'parent_id').map(toNode)
  const descendants = walk('parent_id', 'run_id').map(toNode)
  const members = JSON.stringify([id, ...ancestors.map((a) => a.runId), ...descendants.map((d) => d.runId)])
  const edges = db
    .prepare(
      `SELECT run_id AS child, parent_id AS parent, role FROM run_parents
       WHERE run_id IN (SELECT value FROM json_each(?)) AND parent_id IN (SELECT value FROM json_each(?))
       ORDER BY child, parent`,
    )
    .all(members, members) as LineageEdge[]
  return { runId: id, ancestors, descendants, edges }
}

/**
 * Removes a run's rows and its artifact files in one step. Refused while the run is running,
 * and (unless force) when other runs descend from it. Takes the store: it re-checks liveness
 * and reads the run's children and artifacts through it.
 */
export function deleteRun(store: Store, id: string, options: { force?: boolean } = {}): DeleteResult {
  let run = store.getRunRecord(id)
  if (run.status === 'running') {
    // Its process may have died since this store was opened.
    store.recoverInterrupted()
    run = store.getRunRecord(id)
    if (run.status === 'running') {
      throw new Error(`run ${id} is running (pid ${run.pid} on ${run.hostname}); stop it before deleting it`)
    }
  }
  const children = store.getRun(id).children
  if (children.length > 0 && !options.force) throw new RunHasChildrenError(id, children)
  const artifacts = store.listArtifacts(id)
  const doomed = artifacts.map((a) => store.absolutePath(a.path)).filter((abs, i) => mayDeleteFile(store.db, id, abs, artifacts[i].path))
  // Rows first, in one transaction (children rows cascade). If removing files fails afterwards,
  // what is left are orphan files, never rows pointing at missing files.
  store.db
    .transaction(() => {
      if (store.db.prepare("DELETE FROM runs WHERE id = ? AND status != 'running'").run(id).changes !== 1) {
        throw new Error(`run ${id} started running while being deleted; nothing was deleted`)
      }
    })
    .immediate()
  const deletedPaths: string[] = []
  for (const abs of [...doomed, runDir(store.home, id)]) {
    if (fs.existsSync(abs)) {
      fs.rmSync(abs, { recursive: true, force: true })
      deletedPaths.push(abs)
    }
  }
  return { runId: id, deletedPaths }
}
