// The contract between everything that records (stages, jobs, the demo pipeline) and the
// SQLite store. Stages only ever see a Tracker; the store owns the schema.

export const RUN_STATUSES = ['queued', 'running', 'finished', 'failed', 'stopped', 'interrupted'] as const
export type RunStatus = (typeof RUN_STATUSES)[number]
export const TERMINAL_STATUSES: readonly RunStatus[] = ['finished', 'failed', 'stopped', 'interrupted']

export interface SampleRecord {
  step: number
  prompt: string
  response: string
  /** e.g. { gold_helpfulness: 0.8, reward: 1.2 } */
  scores?: Record<string, number>
}

export interface ArtifactRecord {
  /** 'checkpoint' | 'tokenizer' | 'dataset' | 'report' | ... */
  kind: string
  /** Absolute path, or relative to the workbench home. Stored relative to the home. */
  path: string
  step?: number
  /** Free-form, e.g. { best: true, eval_loss: 1.9 } */
  meta?: Record<string, unknown>
}

/**
 * What a running stage records through. Writes are buffered and committed in batched
 * transactions; `flush()` forces a commit (the job worker calls it before checkpoints and at exit).
 */
export interface Tracker {
  readonly runId: string
  /** One step's scalar metrics, keys `group/name` (train/loss, eval/loss ...). NaN and ±Inf are kept. */
  logMetrics(step: number, values: Record<string, number>): void
  /** Loss spikes, skipped batches, warnings: kind e.g. 'spike' | 'skip' | 'warning' | 'info'. */
  logEvent(kind: string, message: string, data?: unknown, step?: number): void
  logSample(sample: SampleRecord): void
  /** Records a file or folder with its size and sha256 (folders: over their files). */
  logArtifact(artifact: ArtifactRecord): void
  /** Forgets an artifact and deletes its file(s), e.g. an old checkpoint beyond keep-last-K. */
  removeArtifact(path: string): void
  /** Parameters worth filtering on, besides the stored config (e.g. n_params). */
  logParams(params: Record<string, string | number | boolean>): void
  flush(): void
}
