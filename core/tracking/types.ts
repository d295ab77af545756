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

// ---- What the store returns (core/tracking/store.ts). Times are milliseconds since the epoch. ----

export interface ExperimentRecord {
  id: number
  name: string
  description: string
  createdAt: number
}

export interface RunRecord {
  id: string
  experimentId: number
  experiment: string
  name: string
  stage: string
  status: RunStatus
  config: Record<string, unknown>
  /** A BackendInfo (core/train/stages/types.ts) once known. */
  backend: Record<string, unknown> | null
  seed: number | null
  createdAt: number
  startedAt: number | null
  endedAt: number | null
  error: string | null
  notes: string
  pid: number | null
  hostname: string | null
  heartbeatAt: number | null
}

export interface RunParentLink {
  runId: string
  role: string
}

/** Where a run is: the latest progress its process recorded (see store/progress.ts). */
export interface RunProgress {
  step: number
  totalSteps: number
  loss?: number
  tokensPerSec?: number
  /** Seconds left as estimated at updatedAt. */
  etaSeconds?: number
  /** What the stage is doing, e.g. 'evaluating'. */
  message?: string
  /** When the process recorded it (ms since the epoch). */
  updatedAt: number
}

/** A run in a list: the record plus its tags, latest metric values (NaN and ±Inf kept) and progress. */
export interface RunSummary extends RunRecord {
  tags: Record<string, string>
  metrics: Record<string, number>
  /** Absent until the run's process has recorded any. */
  progress?: RunProgress
}

export interface RunRelative {
  runId: string
  role: string
  /** Absent when the related run was deleted. */
  name?: string
  stage?: string
  status?: RunStatus
  exists: boolean
}

export interface RunDetails extends RunSummary {
  params: Record<string, string | number | boolean>
  parents: RunRelative[]
  children: RunRelative[]
}

export interface RunFilter {
  stage?: string
  status?: RunStatus
  /** 'key' (has the tag) or 'key=value'. */
  tag?: string
  /** Experiment name. */
  experiment?: string
  /** Case-insensitive match on id, name, stage, notes and tag values. */
  text?: string
  /** 'created' (default) | 'started' | 'ended' | 'name' | 'stage' | 'status' | 'metric:<key>' */
  sort?: string
  order?: 'asc' | 'desc'
  limit?: number
}

export interface MetricPoint {
  step: number
  value: number
  wallTime: number
}

export type SeriesAxis = 'step' | 'tokens' | 'time'

export interface SeriesQuery {
  runIds: string[]
  keys: string[]
  /** 'step'; 'tokens' = the run's train/tokens_seen at that step; 'time' = seconds since the run started. */
  x?: SeriesAxis
  /** At most this many points per series (min and max of each bucket are kept). Default 2000. */
  maxPoints?: number
}

export interface MetricSeries {
  runId: string
  key: string
  x: number[]
  /** NaN and ±Infinity are kept as such (serialise with care: JSON has neither). */
  y: number[]
  steps: number[]
  /** Points stored for this run and key. */
  totalPoints: number
  downsampled: boolean
}

export interface ConfigDifference {
  /** Dotted key of the flattened config, e.g. 'model.dim'. */
  key: string
  /** One value per compared run, in order; undefined where a run lacks the key. */
  values: unknown[]
}

export interface MetricComparison {
  key: string
  /** 'min' for loss-like keys, 'max' for accuracy-like keys, null when unknown. */
  better: 'min' | 'max' | null
  final: (number | null)[]
  best: (number | null)[]
  bestStep: (number | null)[]
}

export interface RunComparison {
  runs: RunSummary[]
  configDiff: ConfigDifference[]
  metrics: MetricComparison[]
}

export interface LineageNode {
  runId: string
  name?: string
  stage?: string
  status?: RunStatus
  exists: boolean
  /** 1 = direct parent (or child), 2 = grandparent ... */
  depth: number
}

export interface LineageEdge {
  child: string
  parent: string
  role: string
}

export interface Lineage {
  runId: string
  ancestors: LineageNode[]
  descendants: LineageNode[]
  edges: LineageEdge[]
}

export interface StoredArtifact {
  id: number
  runId: string
  kind: string
  /** Relative to the workbench home (absolute when the file lies outside it). */
  path: string
  bytes: number
  sha256: string
  step: number | null
  meta: Record<string, unknown>
  createdAt: number
}

export interface StoredSample extends SampleRecord {
  id: number
  runId: string
  scores: Record<string, number>
  time: number
}

export interface StoredEvent {
  id: number
  runId: string
  step: number | null
  kind: string
  message: string
  data: unknown
  time: number
}
