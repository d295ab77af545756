// The names of the API, with no imports, so that the sandboxed preload can bundle them without
// pulling in zod. api.ts adds the argument schemas and result types for the same names.
//
// Each bridge method (camelCase, what the renderer calls) maps to exactly one channel
// (`domain:verb`, what main, the web server and the services dispatch on).

export const CHANNELS = {
  runsList: 'runs:list',
  runsGet: 'runs:get',
  runsMetrics: 'runs:metrics',
  runsCompare: 'runs:compare',
  runsLineage: 'runs:lineage',
  runsDelete: 'runs:delete',
  runsCancel: 'runs:cancel',
  runsResume: 'runs:resume',
  runsEvents: 'runs:events',
  runsSamples: 'runs:samples',
  runsArtifacts: 'runs:artifacts',
  runsRecords: 'runs:records',
  runsCreate: 'runs:create',
  runsAnnotate: 'runs:annotate',
  stagesList: 'stages:list',
  checkpointsList: 'checkpoints:list',
  datasetsList: 'datasets:list',
  datasetsPick: 'datasets:pick',
  datasetsInspect: 'datasets:inspect',
  chatGenerate: 'chat:generate',
  rewardScore: 'reward:score',
  modelEstimate: 'model:estimate',
  configCheck: 'config:check',
  modelsExport: 'models:export',
  systemInfo: 'system:info',
  prefsList: 'prefs:list',
  prefsStart: 'prefs:start',
  prefsNext: 'prefs:next',
  prefsJudge: 'prefs:judge',
  prefsUndo: 'prefs:undo',
  prefsSummary: 'prefs:summary',
  prefsFinish: 'prefs:finish',
  safetyRuns: 'safety:runs',
  safetyNext: 'safety:next',
  safetyRate: 'safety:rate',
  safetyReport: 'safety:report',
  winratePairs: 'winrate:pairs',
  winrateJudge: 'winrate:judge',
  winrateFigures: 'winrate:figures',
  leaderboardGet: 'leaderboard:get',
  rlhfStart: 'rlhf:start',
  rlhfGet: 'rlhf:get',
  rlhfList: 'rlhf:list',
  rlhfCancel: 'rlhf:cancel',
} as const

export type BridgeMethod = keyof typeof CHANNELS
export type Channel = (typeof CHANNELS)[BridgeMethod]
export const CHANNEL_NAMES = Object.values(CHANNELS) as Channel[]

/** Every status a run can have (the store's CHECK constraint). */
export const RUN_STATUS_VALUES = ['queued', 'running', 'finished', 'failed', 'stopped', 'interrupted'] as const

/** Events pushed from the services to every open window / page. */
export const EVENTS = ['run:update', 'run:metrics', 'chat:token'] as const
export type EventName = (typeof EVENTS)[number]

export function isChannel(name: string): name is Channel {
  return (CHANNEL_NAMES as string[]).includes(name)
}

export function isEventName(name: string): name is EventName {
  return (EVENTS as readonly string[]).includes(name)
}
