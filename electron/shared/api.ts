// The API surface, defined once: for every channel, a zod schema for its argument and the type of
// its result. Main (IPC), the web server (HTTP) and the stdio host all validate with these schemas
// before calling the services, so the renderer is treated as untrusted everywhere.

import { z } from 'zod'
import type { ConfigField } from '../../core/config/schema'
import type { BackendInfo, Progress } from '../../core/train/stages/types'
import { PAIR_SAFETY_LABELS, PREFERENCE_RATINGS } from '../../core/data/preferences'
import type { AnnotationItem, AnnotationSummary } from '../../core/tracking/annotations'
import type { SafetyReportItem } from '../../core/eval/safetyStage'
import type { SafetyReportData } from '../../core/eval/safetyReport'
import type { BlindPair } from '../../core/tracking/winrateJudgements'
import type { WinRateFigures } from '../../core/eval/winrate'
import type { Standing } from '../../core/eval/leaderboard'
import type { RlhfSequenceRecord } from '../../core/tracking/rlhfSequences'
import type { DataFormat } from '../../core/data/formats'
import type { ChatSegment, DataInspection, DataPreview } from '../../core/data/inspect'
import { CHANNELS, RUN_STATUS_VALUES, type BridgeMethod, type Channel, type EventName } from './channels'

export { CHANNELS, CHANNEL_NAMES, EVENTS, RUN_STATUS_VALUES, isChannel, isEventName } from './channels'
export type { BridgeMethod, Channel, EventName } from './channels'
export type { DataFormat, DataInspection, DataPreview, ChatSegment }
export type { ConfigField, BackendInfo, Progress, AnnotationItem, AnnotationSummary, SafetyReportItem, SafetyReportData, BlindPair, WinRateFigures, Standing }
export { PAIR_SAFETY_LABELS, PREFERENCE_RATINGS }

// ---------- argument schemas ----------

const RunId = z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/, 'a run id is 1-80 letters, digits, "_", "-" or "."')
const RunIdArgs = z.object({ id: RunId }).strict()
const AbsPath = z.string().min(1, 'a path is required').max(4096)
const SequenceId = z.string().regex(/^rlhf-[a-z0-9]{1,40}$/, 'an RLHF sequence id looks like rlhf-<letters and digits>')
/** core/rl/sequence.ts's RLHF_METHODS (repeated here so the page's bundle does not pull in core). */
export const RLHF_METHOD_VALUES = ['rs', 'ppo', 'rs+ppo'] as const

const RunFilter = z
  .object({
    experiment: z.string().max(200).optional(),
    stage: z.string().max(100).optional(),
    status: z.enum(RUN_STATUS_VALUES).optional(),
    tag: z.string().max(200).optional(),
    text: z.string().max(500).optional(),
  })
  .strict()

const ParentArg = z
  .object({
    runId: RunId.optional(),
    checkpointDir: AbsPath.optional(),
    role: z.string().min(1).max(64),
  })
  .strict()
  .refine((p) => p.runId !== undefined || p.checkpointDir !== undefined, 'a parent needs a runId or a checkpointDir')

const ChatMessage = z
  .object({
    role: z.enum(['user', 'assistant']),
    content: z.string().max(100_000),
  })
  .strict()

const Annotator = z.string().trim().min(1, 'type your name as the annotator').max(100)
const RequestId = z.string().regex(/^[A-Za-z0-9_-]{1,60}$/, 'requestId is 1-60 letters, digits, "_" or "-"')
const AnswerSourceArg = z.object({ checkpoint: AbsPath, temperature: z.number().min(0).max(5) }).strict()
const PromptSetArg = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: AbsPath }).strict(),
  z.object({ kind: z.literal('dataset'), runId: RunId }).strict(),
  z.object({ kind: z.literal('typed'), texts: z.array(z.string().max(20_000)).min(1, 'type at least one prompt').max(10_000) }).strict(),
])

export const ARG_SCHEMAS = {
  'runs:list': RunFilter.default({}),
  'runs:get': RunIdArgs,
  'runs:metrics': z
    .object({
      id: RunId,
      keys: z.array(z.string().max(200)).max(100).optional(),
      maxPoints: z.number().int().min(10).max(100_000).default(2000),
    })
    .strict(),
  'runs:compare': z
    .object({
      ids: z.array(RunId).min(1, 'pick at least one run').max(20),
      keys: z.array(z.string().max(200)).max(100).optional(),
      maxPoints: z.number().int().min(10).max(100_000).default(1000),
    })
    .strict(),
  'runs:lineage': RunIdArgs,
  // force: delete a run other runs descend from (they keep a deleted parent).
  'runs:delete': z.object({ id: RunId, force: z.boolean().default(false) }).strict(),
  // A run's notes and tags ("key" or "key=value"), as `workbench runs note / tag` set them.
  'runs:annotate': z
    .object({
      id: RunId,
      notes: z.string().max(20_000).optional(),
      addTags: z.array(z.string().min(1).max(200)).max(20).default([]),
      removeTags: z.array(z.string().min(1).max(200)).max(20).default([]),
    })
    .strict(),
  'runs:cancel': RunIdArgs,
  'runs:resume': RunIdArgs,
  'runs:events': RunIdArgs,
  'runs:samples': RunIdArgs,
  'runs:artifacts': RunIdArgs,
  'runs:records': z
    .object({
      id: RunId,
      kind: z.string().regex(/^[a-z0-9_]{1,64}$/, 'an artifact kind: lowercase letters, digits and "_"'),
      limit: z.number().int().min(1).max(5000).default(500),
    })
    .strict(),
  'runs:create': z
    .object({
      stage: z.string().min(1, 'pick a stage').max(100),
      config: z.record(z.string(), z.unknown()),
      parents: z.array(ParentArg).max(8).default([]),
      experiment: z.string().max(200).optional(),
      name: z.string().max(200).optional(),
      tags: z.array(z.string().max(100)).max(20).optional(),
    })
    .strict(),
  'stages:list': z.object({}).strict().default({}),
  'checkpoints:list': z.object({}).strict().default({}),
  'datasets:list': z.object({}).strict().default({}),
  'datasets:pick': z.object({ title: z.string().max(200).optional() }).strict().default({}),
  'datasets:inspect': z.object({ path: AbsPath }).strict(),
  'chat:generate': z
    .object({
      requestId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'requestId is 1-64 letters, digits, "_" or "-"'),
      checkpoint: AbsPath,
      system: z.string().max(20_000).optional(),
      messages: z.array(ChatMessage).min(1, 'send at least one message').max(200),
      temperature: z.number().min(0).max(5).default(0.8),
      topP: z.number().gt(0).max(1).default(0.95),
      topK: z.number().int().min(0).max(100_000).default(0),
      maxTokens: z.number().int().min(1).max(4096).default(128),
      seed: z.number().int().optional(),
    })
    .strict(),
  'reward:score': z
    .object({
      checkpoint: AbsPath,
      system: z.string().max(20_000).optional(),
      messages: z.array(ChatMessage).min(1, 'send at least one message').max(200),
      answer: z.string().max(200_000),
    })
    .strict(),
  // parents: the checkpoint folder picked for each parent role (a fine-tuning's size is its checkpoint's).
  'model:estimate': z.object({ stage: z.string().min(1).max(100), config: z.record(z.string(), z.unknown()), parents: z.record(z.string(), AbsPath).optional() }).strict(),
  'models:export': z.object({ checkpoint: AbsPath, format: z.enum(['gguf', 'llama2c']).default('gguf'), dtype: z.enum(['f32', 'f16', 'q8_0']).default('f32') }).strict(),
  'config:check': z.object({ stage: z.string().min(1).max(100), config: z.record(z.string(), z.unknown()) }).strict(),
  'system:info': z.object({}).strict().default({}),
  'prefs:list': z.object({}).strict().default({}),
  'prefs:start': z
    .object({
      name: z.string().max(200).optional(),
      prompts: PromptSetArg,
      sources: z.tuple([AnswerSourceArg, AnswerSourceArg]),
      maxTokens: z.number().int().min(1).max(4096).default(128),
    })
    .strict(),
  'prefs:next': z.object({ id: RunId, annotator: Annotator, requestId: RequestId }).strict(),
  'prefs:judge': z
    .object({
      id: RunId,
      itemId: z.number().int().min(1),
      annotator: Annotator,
      /** null: skipped. */
      choice: z.enum(['a', 'b']).nullable(),
      rating: z.enum(PREFERENCE_RATINGS).optional(),
      safety: z.enum(PAIR_SAFETY_LABELS).optional(),
    })
    .strict()
    .refine((j) => j.choice === null || j.rating !== undefined, { message: 'pick how much better (1-4)', path: ['rating'] }),
  'prefs:undo': z.object({ id: RunId, annotator: Annotator }).strict(),
  'prefs:summary': RunIdArgs,
  'prefs:finish': RunIdArgs,
  'safety:runs': z.object({}).strict().default({}),
  'safety:next': z.object({ id: RunId, annotator: Annotator }).strict(),
  'safety:rate': z
    .object({ id: RunId, itemId: z.string().min(1).max(500), annotator: Annotator, rating: z.number().int().min(1, 'rate 1-5').max(5, 'rate 1-5') })
    .strict(),
  'safety:report': z.object({ ids: z.array(RunId).min(1, 'pick at least one safety_eval run').max(20) }).strict(),
  'winrate:pairs': z.object({ id: RunId, annotator: Annotator }).strict(),
  'winrate:judge': z
    .object({
      id: RunId,
      index: z.number().int().min(0),
      annotator: Annotator,
      /** The seven-point scale from the LEFT answer's side: 3 left much better .. 0 tie .. -3 right much better. */
      rating: z.number().int().min(-3).max(3),
    })
    .strict(),
  'winrate:figures': RunIdArgs,
  'leaderboard:get': z.object({}).strict().default({}),
  // A whole RLHF sequence (core/rl/sequence.ts): policy and reward models as run ids or checkpoint
  // folders, settings per stage applied to every round of that stage.
  'rlhf:start': z
    .object({
      policy: z.string().min(1, 'pick the policy (an SFT or RLHF run, or a checkpoint)').max(4096),
      prompts: AbsPath,
      rmHelpful: z.string().min(1).max(4096).optional(),
      rmSafety: z.string().min(1).max(4096).optional(),
      rounds: z.number().int().min(1, 'at least one round').max(20),
      method: z.enum(RLHF_METHOD_VALUES),
      safetyPrompts: AbsPath.optional(),
      safetyPromptShare: z.number().min(0, 'a share in 0..1').max(1, 'a share in 0..1').optional(),
      settings: z.object({ rejection_sampling: z.record(z.string(), z.unknown()).optional(), ppo: z.record(z.string(), z.unknown()).optional() }).strict().default({}),
      experiment: z.string().max(200).optional(),
    })
    .strict()
    .refine((a) => a.rmHelpful !== undefined || a.rmSafety !== undefined, 'give a reward model: a helpfulness one, a safety one, or both'),
  'rlhf:get': z.object({ id: SequenceId }).strict(),
  'rlhf:list': z.object({}).strict().default({}),
  'rlhf:cancel': z.object({ id: SequenceId }).strict(),
} satisfies Record<Channel, z.ZodType>

export type ApiArgs<C extends Channel> = z.input<(typeof ARG_SCHEMAS)[C]>
export type ParsedArgs<C extends Channel> = z.output<(typeof ARG_SCHEMAS)[C]>

// ---------- result types ----------

export type RunStatus = (typeof RUN_STATUS_VALUES)[number]

export interface RunSummary {
  id: string
  name: string
  experiment: string
  stage: string
  status: RunStatus
  tags: string[]
  /** Milliseconds since the epoch. */
  createdAt: number
  startedAt?: number
  endedAt?: number
  parentIds: string[]
  /** Latest value of each metric (null where it was NaN or infinite). */
  latest: Record<string, number | null>
  /** Last progress reported by a live run. */
  progress?: Progress
  error?: string
  /** The run's config as recorded (the runs list searches it and shows any key as a column). */
  config?: Record<string, unknown>
  /** Free text set on the run page or with `workbench runs note`. */
  notes?: string
}

export interface RunDetail extends RunSummary {
  config: Record<string, unknown>
  params: Record<string, string | number | boolean>
  backend?: BackendInfo
  seed?: number
  runDir?: string
}

/** One metric as columns; values are null where the stored value was NaN or infinite. */
export interface MetricSeries {
  key: string
  steps: number[]
  values: (number | null)[]
  /** Wall time in milliseconds since the epoch. */
  times: number[]
}

export interface RunEvent {
  kind: string
  message: string
  step?: number
  data?: unknown
  time: number
}

export interface RunSample {
  step: number
  prompt: string
  response: string
  scores?: Record<string, number>
}

/** The records of a run's JSONL artifact (e.g. rejection sampling's rs_selected): the first `limit`, and how many there are. */
export interface RunRecords {
  rows: Record<string, unknown>[]
  total: number
}

export interface RunArtifact {
  kind: string
  /** Relative to the workbench home. */
  path: string
  absPath: string
  bytes?: number
  sha256?: string
  step?: number
  meta?: Record<string, unknown>
}

export interface Lineage {
  parents: (RunSummary & { role?: string })[]
  children: RunSummary[]
}

export interface CompareResult {
  runs: RunSummary[]
  /** Config keys whose values differ between the runs, with each run's value in order. */
  configDiff: { key: string; values: unknown[] }[]
  /** Per metric: each run's final and best value, in run order. */
  metrics: { key: string; final: (number | null)[]; best: (number | null)[]; lowerIsBetter: boolean }[]
  /** series[i] holds run i's series for the requested keys. */
  series: MetricSeries[][]
}

export interface StageInfo {
  name: string
  title: string
  description: string
  fields: ConfigField[]
  presets: Record<string, Record<string, unknown>>
  parentRoles: string[]
  /** The stage's default config as shipped in resources/configs/<stage>.json (absent: no file). */
  defaults?: Record<string, unknown>
}

export interface CheckpointInfo {
  /** Absolute folder of the checkpoint. */
  path: string
  label: string
  runId?: string
  runName?: string
  stage?: string
  step?: number
  createdAt?: number
  /** The run's checkpoint with the lowest eval loss (labelled by it; the rest by step). */
  best?: boolean
  evalLoss?: number
}

export interface DatasetInfo {
  path: string
  name: string
  bytes: number
  /** Where it lies: <home>/datasets, a demo export under <home>/demo, resources/, or picked natively. */
  folder?: 'datasets' | 'demo' | 'resources' | 'picked'
  /** The most specific format its first record reads as (null: none; see core/data/inspect.ts). */
  format?: DataFormat | null
  /** Every format whose loader reads it: a stage's picker offers it when its field's format is here. */
  readableAs?: DataFormat[]
  /** The SFT or preference sub-format ("messages", "alpaca", "hh", ...). */
  variant?: string
  /** Why no format was detected. */
  problem?: string
}

export interface ChatResult {
  text: string
  tokens: number
  stopReason: string
  tokensPerSec: number
}

export interface ModelEstimate {
  params: number
  /** The parameters that train: all of them, or a LoRA run's adapters. */
  trainedParams: number
  weightsBytes: number
  gradientBytes: number
  /** AdamW keeps two moments per trained parameter. */
  optimizerBytes: number
  activationBytes: number
  /** Node, tfjs and the wasm module before any tensor. */
  runtimeBytes: number
  /** The extra threads' share (gradient workers' model copies, kernel threads' buffers). */
  threadsBytes: number
  totalBytes: number
  notes: string[]
}

export interface SystemInfo {
  version: string
  home: string
  mode: 'desktop' | 'web'
  platform: string
  nodeVersion: string
  backend: BackendInfo | null
}

export interface PreferenceDatasetInfo {
  id: string
  name: string
  status: RunStatus
  /** Imported from a file (`workbench prefs import`) or annotated in the app. */
  kind: 'imported' | 'annotated'
  /** Pairs in the dataset (judgements, for an annotated one). */
  pairs: number
  /** Prompts in an annotation session. */
  prompts?: number
  createdAt: number
}

export interface AnnotationProgress {
  /** Prompts this annotator has judged or skipped. */
  done: number
  total: number
}

export interface SafetyRunInfo {
  id: string
  name: string
  status: RunStatus
  /** The evaluated model's label (config "label"), '' when none. */
  label: string
  /** Finished with its safety_eval_report.json: its answers can be rated and reported. */
  hasReport: boolean
  createdAt: number
}

export interface ApiResults {
  'runs:list': RunSummary[]
  'runs:get': RunDetail
  'runs:metrics': MetricSeries[]
  'runs:compare': CompareResult
  'runs:lineage': Lineage
  'runs:delete': { deleted: boolean }
  'runs:annotate': RunDetail
  'runs:cancel': { cancelled: boolean }
  'runs:resume': { id: string }
  'runs:events': RunEvent[]
  'runs:samples': RunSample[]
  'runs:artifacts': RunArtifact[]
  'runs:records': RunRecords
  'runs:create': { id: string }
  'stages:list': StageInfo[]
  'checkpoints:list': CheckpointInfo[]
  'datasets:list': DatasetInfo[]
  'datasets:pick': DatasetInfo | null
  /** The whole file read as its loader reads it: counts, first records, the errors a run would hit. */
  'datasets:inspect': DataInspection
  'chat:generate': ChatResult
  'reward:score': { score: number }
  'model:estimate': ModelEstimate
  /** The files written under <home>/exports/ (recorded as the run's `export` artifacts). */
  'models:export': { files: string[]; bytes: number; notes: string[] }
  /** What the whole config (cross-field rules included) fails on; empty when it passes. */
  'config:check': { key: string; message: string }[]
  'system:info': SystemInfo
  'prefs:list': PreferenceDatasetInfo[]
  'prefs:start': { id: string; prompts: number }
  'prefs:next': AnnotationProgress & { item: AnnotationItem | null }
  'prefs:judge': AnnotationProgress
  'prefs:undo': AnnotationProgress & { position: number | null }
  'prefs:summary': AnnotationSummary
  'prefs:finish': { finished: boolean }
  'safety:runs': SafetyRunInfo[]
  'safety:next': { item: SafetyReportItem | null; rated: number; total: number }
  'safety:rate': { rated: number; total: number }
  'safety:report': { data: SafetyReportData; html: string; csv: string }
  'winrate:pairs': { pairs: BlindPair[] }
  'winrate:judge': { judged: number; total: number }
  /** null until someone has judged a pair. */
  'winrate:figures': WinRateFigures | null
  'leaderboard:get': { standings: Standing[]; comparisons: number }
  'rlhf:start': RlhfSequenceInfo
  'rlhf:get': RlhfSequenceInfo
  'rlhf:list': RlhfSequenceInfo[]
  'rlhf:cancel': { cancelled: boolean }
}

/**
 * An RLHF sequence started from the app, as the store records it (core/tracking/rlhfSequences.ts:
 * its plan, the rounds started so far, how it ended; 'interrupted' when the app that drove it
 * stopped first), with the method narrowed to the ones the form offers.
 */
export type RlhfSequenceInfo = Omit<RlhfSequenceRecord, 'method'> & { method: (typeof RLHF_METHOD_VALUES)[number] }

// ---------- events ----------

export interface RunUpdateEvent {
  id: string
  status?: RunStatus
  progress?: Progress
  message?: string
}

export interface RunMetricsEvent {
  id: string
  step: number
  values: Record<string, number | null>
  time: number
}

export interface ChatTokenEvent {
  requestId: string
  text: string
}

export interface EventPayloads {
  'run:update': RunUpdateEvent
  'run:metrics': RunMetricsEvent
  'chat:token': ChatTokenEvent
}

export type EventListener<E extends EventName> = (payload: EventPayloads[E]) => void

// ---------- the two sides ----------

/** What the services implement (arguments already validated and defaulted). */
export type ApiHandlers = { [C in Channel]: (args: ParsedArgs<C>) => Promise<ApiResults[C]> }

/** What the renderer sees: one typed method per channel plus `on`, which returns an unsubscribe. */
export type WorkbenchApi = {
  [M in BridgeMethod]: (args?: ApiArgs<(typeof CHANNELS)[M]>) => Promise<ApiResults[(typeof CHANNELS)[M]]>
} & {
  on<E extends EventName>(event: E, listener: EventListener<E>): () => void
}

/** Something that can receive pushed events: an IPC window, SSE clients, the stdio pipe. */
export type EventSink = <E extends EventName>(event: E, payload: EventPayloads[E]) => void

// ---------- validation ----------

/** An error whose message is safe and useful to show to the user as is. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: 'bad_request' | 'not_found' | 'conflict' | 'forbidden' | 'internal' = 'bad_request',
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** Validates one call's argument; a bad argument becomes an ApiError naming the field. */
export function parseArgs<C extends Channel>(channel: C, raw: unknown): ParsedArgs<C> {
  const schema = ARG_SCHEMAS[channel]
  const result = schema.safeParse(raw === null ? undefined : raw)
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join('.') : 'argument'
      return `${where}: ${issue.message}`
    })
    throw new ApiError(`invalid arguments for ${channel}: ${problems.join('; ')}`)
  }
  return result.data as ParsedArgs<C>
}

/** Validates and calls: the one path every transport (IPC, HTTP, stdio) goes through. */
export async function dispatch(handlers: ApiHandlers, channel: string, raw: unknown): Promise<unknown> {
  if (!(Object.values(CHANNELS) as string[]).includes(channel)) throw new ApiError(`unknown method "${channel}"`, 'not_found')
  const c = channel as Channel
  const args = parseArgs(c, raw)
  const handler = handlers[c] as (a: unknown) => Promise<unknown>
  return handler(args)
}

/** Turns any thrown value into a message for the user, hiding stack traces. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}
