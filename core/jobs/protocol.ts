// The line protocol between a job worker (child process) and the JobRunner: the worker prints one
// JSON object per line on stdout. Anything else on stdout (a library's banner) is passed on as a
// log line rather than breaking the stream.
import type { Progress, StageResult } from '../train/stages/types'
import type { RunStatus } from '../tracking/types'

export type WorkerEvent =
  | ({ type: 'progress' } & Progress)
  | { type: 'metric'; step: number; values: Record<string, number> }
  | { type: 'log'; message: string }
  | { type: 'status'; status: RunStatus; error?: string }
  | { type: 'result'; result: StageResult }
  | { type: 'error'; message: string }

/** What the runner starts a worker with (argv[2], JSON). The run row holds everything else. */
export interface WorkerSpec {
  home: string
  runId: string
  /**
   * auto | node-gpu | webgpu | node | wasm | cpu; absent = WORKBENCH_BACKEND or auto. webgpu runs in
   * this same worker through Dawn's Node binding (core/backend/dawn.ts); without an adapter the
   * worker reports a failed run saying so.
   */
  backend?: string
  /** Continue the run from its latest checkpoint. */
  resume?: boolean
}

/** Encodes an event as one line. NaN and Infinity become strings so JSON stays valid. */
export function encodeEvent(event: WorkerEvent): string {
  return JSON.stringify(event, (_key, value) =>
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : value,
  )
}

/** Parses one stdout line; a line that is not one of our events becomes a log event. */
export function parseEventLine(line: string): WorkerEvent | null {
  const text = line.trim()
  if (text === '') return null
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text, (_key, value) =>
        value === 'NaN' ? NaN : value === 'Infinity' ? Infinity : value === '-Infinity' ? -Infinity : value,
      ) as WorkerEvent
      if (parsed && typeof parsed === 'object' && typeof parsed.type === 'string') return parsed
    } catch {
      // not ours: fall through to a log line
    }
  }
  return { type: 'log', message: text }
}

/** Splits a byte stream into lines, calling `onLine` for each complete one. */
export class LineSplitter {
  private buffer = ''
  constructor(private readonly onLine: (line: string) => void) {}

  push(chunk: string): void {
    this.buffer += chunk
    let newline = this.buffer.indexOf('\n')
    while (newline >= 0) {
      this.onLine(this.buffer.slice(0, newline))
      this.buffer = this.buffer.slice(newline + 1)
      newline = this.buffer.indexOf('\n')
    }
  }

  end(): void {
    if (this.buffer !== '') this.onLine(this.buffer)
    this.buffer = ''
  }
}
