// The safety report, per checkpoint and across checkpoints, in the paper's shape: violation % per
// model, per risk category, single- against multi-turn, refusal and false-refusal rates, each with
// its 95% interval, and a person's ratings where there are any. Built from the store (each
// safety_eval run's report file and the ratings table) as data, then written as CSV or as one
// standalone HTML file with SVG bars (no scripts, no external files). The app shows the same HTML.

import { csvLine } from '../tracking/csv'
import { listSafetyRatings, readSafetyReport } from '../tracking/safetyRatings'
import type { Store } from '../tracking/store'
import { ratingFigures, safetyFigures, type Rate, type SafetyFigures, type SafetyResult } from './safety'

export interface ModelSafety {
  runId: string
  /** The run's label (e.g. "sft"), else its name. */
  label: string
  model: string
  items: number
  figures: SafetyFigures
  /** From a person's ratings in the app; absent when nobody rated this run. */
  ratings?: { count: number; mean: number; violation: Rate }
}

export interface SafetyReportData {
  models: ModelSafety[]
  /** Every risk category of any model, sorted. */
  categories: string[]
}

/** The report of one or more safety_eval runs, in the order given. */
export function buildSafetyReport(store: Store, runIds: string[]): SafetyReportData {
  if (runIds.length === 0) throw new Error('safety report: name at least one safety_eval run')
  const models = runIds.map((runId) => modelSafety(store, runId))
  const categories = [...new Set(models.flatMap((m) => Object.keys(m.figures.byCategory)))].sort()
  return { models, categories }
}

function modelSafety(store: Store, runId: string): ModelSafety {
  const report = readSafetyReport(store, runId)
  const run = store.getRunRecord(runId)
  // The report's rows carry everything the figures need; rebuild results from them.
  const results: SafetyResult[] = report.items.map((it) => ({
    prompt: { id: it.id, set: it.set, category: it.category, messages: it.messages },
    response: it.response,
    refusal: it.refusal,
    violation: it.violation,
    judge: it.judge,
  }))
  const ratings = listSafetyRatings(store, runId).map((r) => r.rating)
  const rated = ratingFigures(ratings)
  const out: ModelSafety = { runId, label: report.label ?? run.name, model: report.model, items: report.items.length, figures: safetyFigures(results) }
  if (rated) out.ratings = { count: ratings.length, mean: rated.mean, violation: rated.violation }
  return out
}

// ---------- CSV ----------

const CSV_HEADER = ['run_id', 'label', 'figure', 'category', 'k', 'n', 'rate', 'lo', 'hi']

/** One row per figure per model: violation (overall, per category, single/multi-turn), refusal, false refusal, ratings. */
export function safetyReportCsv(data: SafetyReportData): string {
  let out = csvLine(CSV_HEADER)
  for (const m of data.models) {
    for (const { figure, category, rate } of figureRows(m)) {
      out += csvLine([m.runId, m.label, figure, category, rate.k, rate.n, round4(rate.rate), round4(rate.lo), round4(rate.hi)])
    }
    if (m.ratings) out += csvLine([m.runId, m.label, 'mean_rating', '', '', m.ratings.count, round4(m.ratings.mean), '', ''])
  }
  return out
}

function figureRows(m: ModelSafety): { figure: string; category: string; rate: Rate }[] {
  const f = m.figures
  const rows: { figure: string; category: string; rate: Rate | undefined }[] = [
    { figure: 'violation_rate', category: '', rate: f.violation },
    ...Object.entries(f.byCategory).map(([category, rate]) => ({ figure: 'violation_rate', category, rate })),
    { figure: 'violation_rate_single_turn', category: '', rate: f.singleTurn },
    { figure: 'violation_rate_multi_turn', category: '', rate: f.multiTurn },
    { figure: 'refusal_rate', category: '', rate: f.refusal },
    { figure: 'false_refusal_rate', category: '', rate: f.falseRefusal },
    { figure: 'rated_violation_rate', category: '', rate: m.ratings?.violation },
  ]
  return rows.filter((r): r is { figure: string; category: string; rate: Rate } => r.rate !== undefined)
}

// ---------- HTML ----------

const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#9c755f']

/** A standalone HTML page: a table of figures and grouped SVG bars with interval whiskers. */
export function safetyReportHtml(data: SafetyReportData, title = 'Safety report'): string {
  const names = data.models.map((m) => m.label)
  const charts = [
    groupedBars('Violation % per model', ['all'], data.models.map((m) => [m.figures.violation])),
    groupedBars('Violation % per risk category', data.categories, data.models.map((m) => data.categories.map((c) => m.figures.byCategory[c]))),
    groupedBars('Violation %, single- against multi-turn', ['single-turn', 'multi-turn'], data.models.map((m) => [m.figures.singleTurn, m.figures.multiTurn])),
    groupedBars('Refusals: adversarial (wanted) and benign (false refusals)', ['refusal', 'false refusal'], data.models.map((m) => [m.figures.refusal, m.figures.falseRefusal])),
  ]
  const legend = names.map((n, i) => `<span class="key"><span class="swatch" style="background:${COLOURS[i % COLOURS.length]}"></span>${esc(n)}</span>`).join(' ')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 12px 0 24px; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.key { margin-right: 16px; } .swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: middle; }
figure { margin: 0 0 24px; } figcaption { font-weight: 600; margin-bottom: 4px; }
.note { color: #666; }
</style></head><body>
<h1>${esc(title)}</h1>
<p class="note">Violation: share of adversarial answers judged unsafe. Brackets and whiskers: 95% Wilson intervals. Mean rating: a person's five-point scale (1-2 a violation).</p>
${summaryTable(data)}
<p>${legend}</p>
${charts.join('\n')}
</body></html>
`
}

function summaryTable(data: SafetyReportData): string {
  const cell = (r: Rate | undefined) => (r ? `${pct(r.rate)} <span class="note">[${pct(r.lo)}, ${pct(r.hi)}] n=${r.n}</span>` : '–')
  const head = ['model', 'run', 'violation', 'single-turn', 'multi-turn', 'refusal (adversarial)', 'false refusal (benign)', 'mean rating']
  const rows = data.models.map((m) =>
    [
      esc(m.label),
      esc(m.runId),
      cell(m.figures.violation),
      cell(m.figures.singleTurn),
      cell(m.figures.multiTurn),
      cell(m.figures.refusal),
      cell(m.figures.falseRefusal),
      m.ratings ? `${m.ratings.mean.toFixed(2)} <span class="note">n=${m.ratings.count}</span>` : '–',
    ]
      .map((c) => `<td>${c}</td>`)
      .join(''),
  )
  return `<table><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.map((r) => `<tr>${r}</tr>`).join('')}</table>`
}

/** Bars grouped by `groups` (x axis), one bar per model, height = rate in %, whisker = interval. */
function groupedBars(caption: string, groups: string[], perModel: (Rate | undefined)[][]): string {
  const barWidth = 18
  const gap = 40
  const height = 160
  const top = 10
  const left = 36
  const groupWidth = perModel.length * barWidth + gap
  const width = left + groups.length * groupWidth + gap
  const y = (rate: number) => top + height * (1 - rate)
  const parts: string[] = []
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<line x1="${left}" x2="${width}" y1="${y(tick)}" y2="${y(tick)}" stroke="#eee"/>`)
    parts.push(`<text x="${left - 4}" y="${y(tick) + 4}" font-size="10" text-anchor="end">${tick * 100}%</text>`)
  }
  groups.forEach((group, g) => {
    const x0 = left + gap / 2 + g * groupWidth
    perModel.forEach((rates, m) => {
      const r = rates[g]
      if (!r) return
      const x = x0 + m * barWidth
      const colour = COLOURS[m % COLOURS.length]
      parts.push(`<rect x="${x}" y="${y(r.rate)}" width="${barWidth - 2}" height="${height * r.rate}" fill="${colour}"><title>${esc(group)}: ${pct(r.rate)} [${pct(r.lo)}, ${pct(r.hi)}] (${r.k}/${r.n})</title></rect>`)
      const cx = x + (barWidth - 2) / 2
      parts.push(`<line x1="${cx}" x2="${cx}" y1="${y(r.hi)}" y2="${y(r.lo)}" stroke="#333"/>`)
    })
    parts.push(`<text x="${x0 + (perModel.length * barWidth) / 2}" y="${top + height + 14}" font-size="11" text-anchor="middle">${esc(group)}</text>`)
  })
  return `<figure><figcaption>${esc(caption)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + 22}" role="img" aria-label="${esc(caption)}">${parts.join('')}</svg></figure>`
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000
}
