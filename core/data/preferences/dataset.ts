// A preference dataset is a run of stage 'preferences': imported (its pairs in the 'preferences'
// artifact, <run>/pairs.jsonl) or annotated in the app (its pairs in the annotation tables). This
// is the one way to read either, for `prefs export`, the app and the reward model stage.

import type { Store } from '../../tracking/store'
import { annotatedPairs, isAnnotationSession } from '../../tracking/annotations'
import type { PreferencePair } from '../preferences'
import { readPreferenceList } from './read'

export async function loadPreferenceDataset(store: Store, runIdOrPrefix: string): Promise<PreferencePair[]> {
  const run = store.getRunRecord(store.resolveRunId(runIdOrPrefix))
  if (run.stage !== 'preferences') throw new Error(`run ${run.id} is a ${run.stage} run, not a preference dataset (stage preferences)`)
  if (isAnnotationSession(run.config)) return annotatedPairs(store, run.id)
  const artifact = store.listArtifacts(run.id, { kind: 'preferences' })[0]
  if (!artifact) throw new Error(`preference dataset ${run.id} has no pairs file (status ${run.status}${run.error ? `: ${run.error}` : ''})`)
  return (await readPreferenceList(store.absolutePath(artifact.path), { format: 'workbench' })).list
}

/** A data entry of a stage that trains on preference data: a dataset run id or a file, with an optional `@weight` suffix. */
export interface DatasetRef {
  ref: string
  /** 2 uses each pair twice, 0.5 a seeded half; default 1. */
  weight: number
}

const WEIGHT_SUFFIX = /@(\d+(?:\.\d*)?|\.\d+)$/

/** Splits "prefs.jsonl@0.5" into { ref: 'prefs.jsonl', weight: 0.5 }; without a suffix the weight is 1. */
export function parseDatasetRef(entry: string): DatasetRef {
  const match = WEIGHT_SUFFIX.exec(entry)
  if (!match) return { ref: entry, weight: 1 }
  return { ref: entry.slice(0, match.index), weight: Number(match[1]) }
}
