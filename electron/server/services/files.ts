// Files the page can choose from: recorded model checkpoints, text datasets (in <home>/datasets,
// the demo prompt sets in the project's resources/prompts, and files picked natively), and the
// native file dialog (desktop only).

import fs from 'node:fs'
import path from 'node:path'
import type { Store } from '../../../core/tracking/store'
import type { StoredArtifact } from '../../../core/tracking/types'
import { isModelCheckpoint } from '../../../core/jobs/checkpoints'
import { writeExport } from '../../../core/interchange/exportModel'
import { ApiError, type ApiHandlers, type CheckpointInfo, type DatasetInfo } from '../../shared/api'
import type { ServiceContext } from './context'
import { repoRoot } from './system'

/** Text files offered as datasets: in <home>/datasets and the prompt sets in the project's resources/prompts. */
const DATASET_EXTENSIONS = new Set(['.txt', '.jsonl', '.json', '.md', '.csv'])

export function createFileHandlers(ctx: ServiceContext) {
  const { home, store, picked, options } = ctx
  return {
    'checkpoints:list': async () => listCheckpoints(store),
    'datasets:list': async () => listDatasets(home, picked),
    // `workbench export` for a checkpoint picked on a run's page: the file lands in <home>/exports/.
    'models:export': async ({ checkpoint, format, dtype }) => {
      ctx.checkPathAllowed(checkpoint, 'checkpoint')
      if (!isModelCheckpoint(checkpoint)) throw new ApiError(`${checkpoint} holds no model checkpoint`, 'not_found')
      // Recorded on the run the checkpoint belongs to, as `workbench export <run>` records it.
      const runId = listCheckpoints(store).find((c) => c.path === path.resolve(checkpoint))?.runId
      const name = `${runId ?? path.basename(path.dirname(checkpoint))}-${path.basename(checkpoint)}`.replace(/[^\w.-]+/g, '_')
      const out = path.join(home, 'exports', format === 'gguf' ? `${name}-${dtype}.gguf` : name)
      const { files, bytes, notes } = writeExport(checkpoint, { format, dtype, out })
      if (runId) {
        for (const file of files) store.addArtifact(runId, { kind: 'export', path: file, meta: { format, dtype, checkpoint } })
        store.recordBatch(runId, { events: [{ kind: 'export', message: `exported as ${format} (${dtype}) to ${files.join(', ')}`, data: { format, files }, time: Date.now() }] })
      }
      return { files, bytes, notes }
    },
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
    const kept = store
      .listArtifacts(r.id)
      .filter((a) => a.kind === 'checkpoint' || a.kind === 'model')
      .map((a) => ({ ...a, dir: store.absolutePath(a.path) }))
      .filter((a) => isModelCheckpoint(a.dir))
    const best = bestByEvalLoss(kept)
    for (const a of kept) {
      out.push({
        path: a.dir,
        label: checkpointLabel(r.name || r.id, r.stage, a, a === best),
        runId: r.id,
        runName: r.name,
        stage: r.stage,
        step: a.step ?? undefined,
        createdAt: a.createdAt,
        best: a === best,
        evalLoss: evalLossOf(a) ?? undefined,
      })
    }
  }
  // Newest first: the run just trained is the one people want to talk to.
  return out.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0) || (b.step ?? 0) - (a.step ?? 0))
}

type CheckpointArtifact = Pick<StoredArtifact, 'step' | 'meta' | 'kind'>

function evalLossOf(a: CheckpointArtifact): number | null {
  const loss = a.meta?.eval_loss
  return typeof loss === 'number' && Number.isFinite(loss) ? loss : null
}

/**
 * The run's best checkpoint among those still on disk: the lowest eval loss. The training loop
 * marks a checkpoint `best` when it beat the ones before it, so every improvement carries the
 * flag; only the lowest is the run's best.
 */
export function bestByEvalLoss<A extends CheckpointArtifact>(artifacts: A[]): A | undefined {
  let best: A | undefined
  for (const a of artifacts) {
    const loss = evalLossOf(a)
    if (loss !== null && (best === undefined || loss < evalLossOf(best)!)) best = a
  }
  return best
}

/** "run (stage) · step 40 · best, eval loss 3.165" for the best, "run (stage) · step 20" for the rest. */
export function checkpointLabel(runName: string, stage: string, a: CheckpointArtifact, isBest: boolean): string {
  const step = a.kind === 'model' && a.step === null ? 'final model' : `step ${a.step ?? '?'}`
  const loss = evalLossOf(a)
  const best = isBest && loss !== null ? ` · best, eval loss ${Number(loss.toPrecision(4))}` : ''
  return `${runName} (${stage}) · ${step}${best}`
}

function listDatasets(home: string, picked: Set<string>): DatasetInfo[] {
  const roots = [path.join(home, 'datasets'), path.join(repoRoot(), 'resources', 'prompts')]
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
