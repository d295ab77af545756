// Plain-text formatting of runs for the terminal (the `workbench runs` commands).

/** 4 significant digits, no exponent for everyday magnitudes; NaN and infinities spelled out. */
export function formatNumber(x: number | null | undefined): string {
  if (x === null || x === undefined) return '-'
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'inf'
  if (x === -Infinity) return '-inf'
  if (Number.isInteger(x) && Math.abs(x) < 1e9) return String(x)
  const abs = Math.abs(x)
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e9)) return x.toExponential(3)
  return String(Number(x.toPrecision(4)))
}

/** "2026-11-28 10:15" in local time. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-'
  const d = new Date(ms)
  const pad = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

/** "45s", "12m 03s", "3h 07m". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms < 0) return '-'
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`
}

/**
 * Left-aligned columns separated by two spaces, under a header line when headers are given;
 * cells longer than maxWidth are cut with '…'.
 */
export function formatTable(headers: string[] | null, rows: string[][], maxWidth = 40): string {
  const cut = (s: string) => (s.length > maxWidth ? s.slice(0, maxWidth - 1) + '…' : s)
  const cells = (headers ? [headers, ...rows] : rows).map((r) => r.map((c) => cut(c.replace(/\s+/g, ' '))))
  if (cells.length === 0) return ''
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()).join('\n')
}
