// Filtering a run's samples by a yes/no score: an evaluation's gold_correct (right or wrong),
// gold_unsafe, refusal. Any score that is 0 or 1 on every sample that has it counts as yes/no.

export interface ScoredSample {
  scores?: Record<string, number>
}

/** Score keys that are 0/1 on every sample carrying them, sorted. */
export function yesNoScoreKeys(samples: ScoredSample[]): string[] {
  const seen = new Map<string, boolean>()
  for (const s of samples) {
    for (const [key, v] of Object.entries(s.scores ?? {})) seen.set(key, (seen.get(key) ?? true) && (v === 0 || v === 1))
  }
  return [...seen].filter(([, binary]) => binary).map(([key]) => key).sort()
}

/** filter "gold_correct=1" keeps the samples scored 1 on gold_correct; "" keeps all. */
export function filterSamples<S extends ScoredSample>(samples: S[], filter: string): S[] {
  if (!filter) return samples
  const [key, value] = filter.split('=')
  return samples.filter((s) => s.scores?.[key] === Number(value))
}
