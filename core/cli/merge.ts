// `workbench merge --adapter <run|folder> --out DIR`: folds a LoRA adapter (ours, or one PEFT
// wrote) into its base model, W + (alpha / r) * B A, and writes a full checkpoint, which the
// exports (Hugging Face, GGUF, llama2.c) and every stage take like any other. Recorded as a
// finished run of stage 'merge' with the adapter's run (when it names one) as its parent.
import fs from 'node:fs'
import path from 'node:path'
import { initBackend, backendPreference } from '../backend'
import { resolveModelRef } from '../jobs/checkpoints'
import { saveCheckpoint } from '../model/checkpoint'
import { loadModel } from '../model/load'
import { mergeAdapters } from '../model/lora'
import { isAdapterDir, readAdapterConfig } from '../model/peft'
import { Store } from '../tracking/store'
import { SqliteTracker } from '../tracking/tracker'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench merge --adapter <run|folder> --out DIR [--name NAME] [--home DIR] [--json]',
  '',
  'Folds a LoRA adapter folder (adapter_config.json + adapter_model.safetensors, PEFT\'s layout) into',
  'the base model it names and writes a full checkpoint at DIR; a reward adapter (task_type SEQ_CLS)',
  'becomes a LlamaForSequenceClassification. The merged folder is recorded as a run (stage merge).',
].join('\n')

export async function runMergeCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, adapter: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' } }, 'merge')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length > 0) throw new UsageError(`merge: unexpected argument "${args.positionals[0]}"`)
  if (typeof v.adapter !== 'string') throw new UsageError('merge: --adapter <run id or adapter folder> is required')
  if (typeof v.out !== 'string') throw new UsageError('merge: --out DIR is required')
  const out = path.resolve(v.out)
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0) throw new UsageError(`merge: --out ${v.out} exists and is not empty`)

  await initBackend(backendPreference(v.backend as string | undefined))
  const store = Store.open(resolveHome(v.home as string | undefined))
  try {
    const ref = resolveModelRef(store, v.adapter, '--adapter')
    if (!isAdapterDir(ref.checkpointDir)) throw new UsageError(`merge: ${ref.checkpointDir} is not a LoRA adapter folder (no adapter_config.json); it needs no merging`)
    const merged = await mergeAdapterFolder(ref.checkpointDir, out)
    const run = store.createRun({
      stage: 'merge',
      name: (v.name as string | undefined) ?? `merge ${path.basename(path.dirname(ref.checkpointDir))}`,
      config: { adapter: ref.checkpointDir, out },
      parents: ref.runId ? [{ runId: ref.runId, role: 'adapter' }] : [],
      status: 'running',
    })
    const tracker = new SqliteTracker(store, run.id)
    tracker.logParams({ adapter: ref.checkpointDir, base: merged.baseDir, kind: merged.kind })
    tracker.logArtifact({ kind: 'checkpoint', path: out, meta: { merged_from: ref.checkpointDir, base: merged.baseDir } })
    tracker.flush()
    store.finishRun(run.id, 'finished')
    if (v.json) io.out(jsonLine({ type: 'merge', run_id: run.id, checkpoint: out, base: merged.baseDir, kind: merged.kind }))
    else io.out(`merged ${ref.checkpointDir} into ${merged.baseDir}: ${out} (run ${run.id})`)
    return 0
  } finally {
    store.close()
  }
}

/** Loads the adapter over its base, folds it in and saves the full checkpoint at `out`. */
export async function mergeAdapterFolder(adapterDir: string, out: string): Promise<{ baseDir: string; kind: 'lm' | 'reward' }> {
  const isReward = readAdapterConfig(adapterDir).taskType === 'SEQ_CLS'
  const heads = loadModel(adapterDir, { scoringOnly: true, heads: isReward ? ['reward'] : [] })
  try {
    const merged = mergeAdapters(heads.model)
    try {
      const headWeights = Object.fromEntries(Object.values(heads.heads).map((h) => [h.weightName, h.weight]))
      const trunk = { ...merged.weights } as Record<string, (typeof merged.weights)[string]>
      // A sequence classifier is saved without an lm_head (tied config), as the reward stage saves one.
      if (heads.kind === 'reward') delete trunk['lm_head.weight']
      const config = heads.kind === 'reward' ? { ...merged.config, tie_embeddings: true } : merged.config
      await saveCheckpoint(out, { config, weights: { ...trunk, ...headWeights }, tokenizer: heads.tokenizer, kind: heads.kind, stage: 'merge' })
    } finally {
      merged.dispose()
    }
    return { baseDir: heads.adapter!.baseDir, kind: heads.kind }
  } finally {
    heads.dispose()
  }
}
