// Recorded model checkpoints the page can choose from, and their export. (Data files: datasets.ts.)

import path from 'node:path'
import type { Store } from '../../../core/tracking/store'
import type { StoredArtifact } from '../../../core/tracking/types'
import { isModelCheckpoint } from '../../../core/jobs/checkpoints'
import { writeExport } from '../../../core/interchange/exportModel'
import { ApiError, type ApiHandlers, type CheckpointInfo } from '../../shared/api'
import type { ServiceContext } from './context'

export function createFileHandlers(ctx: ServiceContext) {
  const { home, store } = ctx
  return {
    'checkpoints:list': async () => listCheckpoints(store),
    // `workbench export` for a checkpoint picked on a run's page: the file lands in <home>/exports/.
    'models:export': async ({ checkpoint, format, dtype }) => {
      ctx.checkPathAllowed(checkpoint, 'checkpoint')
      if (!isModelCheckpoint(checkpoint)) throw new ApiError(`${checkpoint} holds no model checkpoint`, 'not_found')
      // Recorded on the run the checkpoint belongs to, as `workbench export <run>` records it.
      const runId = listCheckpoints(store).find((c) => c.path === path.resolve(checkpoint))?.runId
      const name = `${runId ?? path.basename(path.dirname(checkpoint))}-${path.basename(checkpoint)}`.replace(/[^\w.-]+/g, '_')
      const out = path.join(home, 'exports', format === 'gguf' ? `${name}-${dtype}.gguf` : name)
      const { files, bytes, notes } = await writeExport(checkpoint, { format, dtype, out })
      if (runId) {
        for (const file of files) store.addArtifact(runId, { kind: 'export', path: file, meta: { format, dtype, checkpoint } })
        store.recordBatch(runId, { events: [{ kind: 'export', message: `exported as ${format} (${dtype}) to ${files.join(', ')}`, data: { format, files }, time: Date.now() }] })
      }
      return { files, bytes, notes }
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
