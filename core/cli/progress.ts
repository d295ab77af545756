// How a running job is shown on the terminal: a one-line progress bar with ETA and live loss
// when stdout is a TTY, plain lines otherwise (logs, CI), and nothing but JSON lines with --json.
import type { Progress } from '../train/stages/types'

/** Formats seconds as "1h02m", "3m05s" or "12s". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?'
  const s = Math.round(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`
  if (m > 0) return `${m}m${String(sec).padStart(2, '0')}s`
  return `${sec}s`
}

/** One line: "[#########.........]  45% step 45/100 loss 3.2104 1,234 tok/s ETA 1m20s". */
export function formatProgress(p: Progress, width = 24): string {
  const fraction = p.totalSteps > 0 ? Math.min(1, p.step / p.totalSteps) : 0
  const filled = Math.round(fraction * width)
  const bar = '#'.repeat(filled) + '.'.repeat(width - filled)
  const parts = [`[${bar}]`, `${String(Math.floor(fraction * 100)).padStart(3)}%`, `step ${p.step}/${p.totalSteps}`]
  if (p.loss !== undefined) parts.push(`loss ${p.loss.toFixed(4)}`)
  if (p.tokensPerSec !== undefined) parts.push(`${Math.round(p.tokensPerSec).toLocaleString('en-US')} tok/s`)
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(p.etaSeconds)}`)
  if (p.message) parts.push(p.message)
  return parts.join(' ')
}

export interface ProgressWriter {
  write(text: string): void
  isTTY: boolean
}

/**
 * Shows progress on a stream. On a TTY the bar redraws in place (throttled); elsewhere a plain
 * line is printed at most every `plainEverySec` seconds so logs stay readable.
 */
export class ProgressDisplay {
  private lastDraw = 0
  private barShown = false

  constructor(
    private readonly out: ProgressWriter,
    private readonly plainEverySec = 10,
  ) {}

  update(p: Progress): void {
    const now = Date.now()
    const done = p.step >= p.totalSteps
    if (this.out.isTTY) {
      if (!done && now - this.lastDraw < 100) return
      this.out.write('\r' + formatProgress(p) + '\x1b[K')
      this.barShown = true
    } else {
      if (!done && now - this.lastDraw < this.plainEverySec * 1000) return
      this.out.write(formatProgress(p) + '\n')
    }
    this.lastDraw = now
  }

  /** Prints a normal line without garbling the bar. */
  line(text: string): void {
    this.clear()
    this.out.write(text + '\n')
  }

  /** Ends the bar's line so later output starts on a fresh line. */
  clear(): void {
    if (this.barShown) this.out.write('\r\x1b[K')
    this.barShown = false
  }
}
