// Files the page can choose from: recorded model checkpoints, text datasets (in <home>/datasets,
// the project's resources/, and files picked natively), and the native file dialog (desktop only).

import fs from 'node:fs'
import path from 'node:path'
import type { Store } from '../../../core/tracking/store'
import { isModelCheckpoint } from '../../../core/jobs/checkpoints'
import { ApiError, type ApiHandlers, type CheckpointInfo, type DatasetInfo } from '../../shared/api'
import type { ServiceContext } from './context'
import { repoRoot } from './system'

/** Text files offered as datasets: in <home>/datasets and the project's resources/. */
const DATASET_EXTENSIONS = new Set(['.txt', '.jsonl', '.json', '.md', '.csv'])

export function createFileHandlers(ctx: ServiceContext) {
  const { home, store, picked, options } = ctx
  return {
    'checkpoints:list': async () => listCheckpoints(store),
    'datasets:list': async () => listDatasets(home, picked),
    'datasets:pick': async ({ title }) => {
      if (!options.pickFile) {
        throw new ApiError(`web mode has no file dialog: type a path, or copy the file into ${path.join(home, 'datasets')} and pick it from the list`)
      }
      const file = await options.pickFile(title ?? 'Pick a dataset')
      if (!file) return null
      const abs = path.resolve(file)
      picked.add(abs)
      return { path: abs, name: path.basename(abs), bytes: fs.statSync(abs).size }
    },
  } satisfies Partial<ApiHandlers>
}

/** Every recorded checkpoint folder that still holds a model, newest first. */
export function listCheckpoints(store: Store): CheckpointInfo[] {
  const out: CheckpointInfo[] = []
  for (const r of store.listRuns({})) {
    for (const a of store.listArtifacts(r.id)) {
      if (a.kind !== 'checkpoint' && a.kind !== 'model') continue
      const dir = store.absolutePath(a.path)
      if (!isModelCheckpoint(dir)) continue
      const best = (a.meta as Record<string, unknown>)?.best === true ? ' · best' : ''
      out.push({
        path: dir,
        label: `${r.name || r.id} (${r.stage}) · step ${a.step ?? '?'}${best}`,
        runId: r.id,
        runName: r.name,
        stage: r.stage,
        step: a.step ?? undefined,
        createdAt: a.createdAt,
      })
    }
  }
  // Newest first: the run just trained is the one people want to talk to.
  return out.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || (b.step ?? 0) - (a.step ?? 0))
}

function listDatasets(home: string, picked: Set<string>): DatasetInfo[] {
  const roots = [path.join(home, 'datasets'), path.join(repoRoot(), 'resources')]
  const files = roots.flatMap((root) => listFiles(root, 3)).filter((f) => DATASET_EXTENSIONS.has(path.extname(f)))
  for (const f of picked) if (!files.includes(f) && fs.existsSync(f)) files.push(f)
  return files.map((f) => ({ path: f, name: path.basename(f), bytes: fs.statSync(f).size }))
}

function listFiles(root: string, depth: number): string[] {
  if (depth < 0 || !fs.existsSync(root)) return []
  const out: string[] = []
  for (const entry of fs.readdirSync(root, { withFileTypes: true })) {
    const full = path.join(root, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full, depth - 1))
    else if (entry.isFile()) out.push(full)
  }
  return out
}
