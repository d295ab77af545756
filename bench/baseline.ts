// The peak-RSS guard of `npm run bench -- --only model`: every row's peak resident memory is
// compared with bench/baseline.json, and a rise of more than 10% fails the bench (exit 1) naming
// the row. `--save-baseline` records the current figures. Peak RSS depends on the model, batch,
// sequence, backend, thread count and mode, and hardly on the machine (the same float32 tensors,
// the same wasm heap growth), so a baseline recorded on one machine holds on another; rows with
// no recorded figure are only printed.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const BASELINE_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'baseline.json')
/** Allowed rise over the recorded peak RSS. */
export const RSS_TOLERANCE = 0.1

export interface BaselineRow {
  key: string
  peakRssBytes: number
}

interface BaselineFile {
  note: string
  peakRssBytes: Record<string, number>
}

function read(file: string): BaselineFile {
  if (!fs.existsSync(file)) return { note: '', peakRssBytes: {} }
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<BaselineFile>
  if (typeof parsed.peakRssBytes !== 'object' || parsed.peakRssBytes === null) throw new Error(`${file}: expected an object "peakRssBytes" of row key -> bytes`)
  return { note: parsed.note ?? '', peakRssBytes: parsed.peakRssBytes }
}

/** Adds (or replaces) these rows' figures in the baseline file. */
export function saveBaseline(rows: BaselineRow[], file = BASELINE_FILE): void {
  const baseline = read(file)
  for (const row of rows) baseline.peakRssBytes[row.key] = row.peakRssBytes
  baseline.note = 'Peak RSS per model-bench row (bench/baseline.ts); rewrite with npm run bench -- --only model --save-baseline'
  fs.writeFileSync(file, JSON.stringify(baseline, null, 2) + '\n')
}

/** One line per row whose peak RSS is more than RSS_TOLERANCE above its recorded figure. */
export function rssRegressions(rows: BaselineRow[], file = BASELINE_FILE): string[] {
  const recorded = read(file).peakRssBytes
  const mb = (b: number) => `${Math.round(b / 2 ** 20)} MB`
  return rows
    .filter((row) => recorded[row.key] !== undefined && row.peakRssBytes > recorded[row.key] * (1 + RSS_TOLERANCE))
    .map((row) => `${row.key}: peak RSS ${mb(row.peakRssBytes)} is ${Math.round((row.peakRssBytes / recorded[row.key] - 1) * 100)}% above the baseline ${mb(recorded[row.key])} (limit +${RSS_TOLERANCE * 100}%, ${path.basename(file)})`)
}
