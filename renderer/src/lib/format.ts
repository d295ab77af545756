// Small formatting helpers shared by the screens, so every number reads the same everywhere.

export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined) return '—'
  if (Number.isNaN(value)) return 'NaN'
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '-∞'
  if (Number.isInteger(value) && Math.abs(value) < 1e7) return value.toLocaleString('en-US')
  const abs = Math.abs(value)
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2)
  return Number(value.toPrecision(digits)).toString()
}

export function formatCount(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'B'
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M'
  if (n >= 1e3) return (n / 1e3).toFixed(1) + 'k'
  return String(n)
}

export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '—'
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i += 1
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—'
  const s = Math.round(seconds)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  return `${h}h ${m % 60}m`
}

export function formatTime(ms: number | undefined): string {
  if (!ms) return '—'
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

export function formatValue(value: unknown): string {
  if (value === undefined) return '—'
  if (typeof value === 'number') return formatNumber(value, 6)
  if (typeof value === 'string') return value
  return JSON.stringify(value)
}

/**
 * Text of at most `max` characters, cut after the last whole word that fits and marked with an
 * ellipsis ("the river ran…", never "the river ra…"). A single word longer than `max` has no
 * boundary to cut at and is cut inside. Text that fits is returned as it is.
 */
export function truncateWords(text: string, max: number): string {
  if (text.length <= max) return text
  // Keep room for the ellipsis.
  const room = text.slice(0, Math.max(1, max - 1))
  // The cut already falls between words when the next character is whitespace.
  if (/\s/.test(text[room.length])) return room.trimEnd() + '…'
  const lastSpace = room.search(/\s\S*$/)
  if (lastSpace <= 0) return room + '…'
  return room.slice(0, lastSpace).trimEnd() + '…'
}
