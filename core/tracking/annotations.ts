// Annotation sessions in the store. A session is a run of stage 'preferences' whose config names
// its two sources (checkpoint + temperature each) and whose prompts are <run>/prompts.jsonl. Each
// prompt shown gets one item (the two answers in the order shown, and which source wrote A), and
// each annotator one judgement per item. Every write is its own committed statement, so killing
// the app loses at most the pair on screen.

import fs from 'node:fs'
import path from 'node:path'
import type { ChatMessage } from '../data/chatTemplate'
import { PAIR_SAFETY_LABELS, PREFERENCE_RATINGS, type PairSafetyLabel, type PreferencePair, type PreferenceRating } from '../data/preferences'
import { runDir } from './home'
import type { Store } from './store'

export const PROMPTS_FILE = 'prompts.jsonl'

export interface AnswerSource {
  checkpoint: string
  temperature: number
  /** Shown only after the session, e.g. "sft-1234 · T=0.7". */
  label: string
}

export interface SessionConfig {
  kind: 'annotation'
  sources: [AnswerSource, AnswerSource]
  maxTokens: number
  /** Where the prompts came from, for the record: a file, a dataset run, or "typed". */
  promptSource: string
  prompts: number
}

export interface AnnotationItem {
  id: number
  position: number
  messages: ChatMessage[]
  answerA: string
  answerB: string
}

export interface Judgement {
  itemId: number
  annotator: string
  /** null: skipped. */
  choice: 'a' | 'b' | null
  rating?: PreferenceRating
  safety?: PairSafetyLabel
}

export interface AnnotationSummary {
  items: number
  prompts: number
  judgements: number
  skipped: number
  byRating: Record<string, number>
  bySafety: Record<string, number>
  byAnnotator: Record<string, number>
  /** Items judged (not skipped) by two or more annotators, and how often two of them chose the same answer. */
  agreement: { items: number; comparisons: number; agreeing: number; rate: number | null }
}

interface ItemRow {
  id: number
  run_id: string
  position: number
  messages: string
  answer_a: string
  answer_b: string
  source_a: number
}

interface JudgementRow {
  id: number
  item_id: number
  annotator: string
  choice: 'a' | 'b' | null
  rating: PreferenceRating | null
  safety: PairSafetyLabel | null
  created_at: number
}

/** Records a new session as a running 'preferences' run owned by this process; writes its prompts. */
export function createAnnotationSession(store: Store, input: { name?: string; experiment?: string; config: Omit<SessionConfig, 'kind' | 'prompts'>; prompts: ChatMessage[][] }): string {
  if (input.prompts.length === 0) throw new Error('an annotation session needs at least one prompt')
  const config: SessionConfig = { kind: 'annotation', ...input.config, prompts: input.prompts.length }
  const run = store.createRun({ stage: 'preferences', name: input.name, experiment: input.experiment, config: config as unknown as Record<string, unknown>, status: 'running' })
  const file = path.join(runDir(store.home, run.id), PROMPTS_FILE)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, input.prompts.map((messages) => JSON.stringify({ messages })).join('\n') + '\n')
  store.addArtifact(run.id, { kind: 'prompts', path: file, meta: { prompts: input.prompts.length } })
  return run.id
}

export function isAnnotationSession(config: Record<string, unknown>): boolean {
  return config.kind === 'annotation'
}

export function sessionConfig(store: Store, runId: string): SessionConfig {
  const run = store.getRunRecord(runId)
  if (run.stage !== 'preferences' || !isAnnotationSession(run.config)) throw new Error(`run ${runId} is not an annotation session`)
  return run.config as unknown as SessionConfig
}

export function readSessionPrompts(store: Store, runId: string): ChatMessage[][] {
  const file = path.join(runDir(store.home, runId), PROMPTS_FILE)
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (JSON.parse(l) as { messages: ChatMessage[] }).messages)
}

function toItem(row: ItemRow): AnnotationItem {
  return { id: row.id, position: row.position, messages: JSON.parse(row.messages), answerA: row.answer_a, answerB: row.answer_b }
}

export function getItemAt(store: Store, runId: string, position: number): AnnotationItem | undefined {
  const row = store.db.prepare('SELECT * FROM preference_items WHERE run_id = ? AND position = ?').get(runId, position) as ItemRow | undefined
  return row && toItem(row)
}

/** Stores the pair shown for a prompt; a second call for the same position keeps the first. */
export function addItem(store: Store, runId: string, item: { position: number; messages: ChatMessage[]; answerA: string; answerB: string; sourceA: 0 | 1 }): AnnotationItem {
  store.db
    .prepare('INSERT OR IGNORE INTO preference_items (run_id, position, messages, answer_a, answer_b, source_a, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(runId, item.position, JSON.stringify(item.messages), item.answerA, item.answerB, item.sourceA, Date.now())
  return getItemAt(store, runId, item.position)!
}

/** The first prompt position this annotator has not judged (or skipped) yet; `total` when done. */
export function nextPosition(store: Store, runId: string, annotator: string, total: number): number {
  const done = new Set(
    store.db
      .prepare('SELECT i.position FROM preference_judgements j JOIN preference_items i ON i.id = j.item_id WHERE j.run_id = ? AND j.annotator = ?')
      .pluck(true)
      .all(runId, annotator) as number[],
  )
  let p = 0
  while (p < total && done.has(p)) p++
  return p
}

export function judgedCount(store: Store, runId: string, annotator: string): number {
  return store.db.prepare('SELECT count(*) FROM preference_judgements WHERE run_id = ? AND annotator = ?').pluck(true).get(runId, annotator) as number
}

/** Writes one judgement now (committed before this returns). Judging an item again replaces the earlier judgement. */
export function saveJudgement(store: Store, runId: string, j: Judgement): void {
  const annotator = j.annotator.trim()
  if (!annotator) throw new Error('a judgement needs an annotator name')
  const item = store.db.prepare('SELECT run_id FROM preference_items WHERE id = ?').get(j.itemId) as { run_id: string } | undefined
  if (!item || item.run_id !== runId) throw new Error(`item ${j.itemId} is not part of session ${runId}`)
  if (j.choice !== null) {
    if (!j.rating || !PREFERENCE_RATINGS.includes(j.rating)) throw new Error(`a judgement needs a strength (${PREFERENCE_RATINGS.join(', ')})`)
    if (j.safety !== undefined && !PAIR_SAFETY_LABELS.includes(j.safety)) throw new Error(`unknown safety label "${j.safety}"`)
  }
  store.db
    .prepare(
      `INSERT INTO preference_judgements (run_id, item_id, annotator, choice, rating, safety, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (item_id, annotator) DO UPDATE SET choice = excluded.choice, rating = excluded.rating, safety = excluded.safety, created_at = excluded.created_at`,
    )
    .run(runId, j.itemId, annotator, j.choice, j.choice === null ? null : j.rating, j.choice === null ? null : (j.safety ?? null), Date.now())
}

/** Removes this annotator's latest judgement (or skip) in the session; returns its item's position. */
export function undoLastJudgement(store: Store, runId: string, annotator: string): number | null {
  const row = store.db
    .prepare('SELECT j.id, i.position FROM preference_judgements j JOIN preference_items i ON i.id = j.item_id WHERE j.run_id = ? AND j.annotator = ? ORDER BY j.created_at DESC, j.id DESC LIMIT 1')
    .get(runId, annotator.trim()) as { id: number; position: number } | undefined
  if (!row) return null
  store.db.prepare('DELETE FROM preference_judgements WHERE id = ?').run(row.id)
  return row.position
}

function judgementRows(store: Store, runId: string): (JudgementRow & ItemRow & { judgement_id: number })[] {
  return store.db
    .prepare('SELECT i.*, j.id AS judgement_id, j.item_id, j.annotator, j.choice, j.rating, j.safety, j.created_at FROM preference_judgements j JOIN preference_items i ON i.id = j.item_id WHERE j.run_id = ? ORDER BY i.position, j.id')
    .all(runId) as (JudgementRow & ItemRow & { judgement_id: number })[]
}

export function annotationSummary(store: Store, runId: string): AnnotationSummary {
  const config = sessionConfig(store, runId)
  const rows = judgementRows(store, runId)
  const items = store.db.prepare('SELECT count(*) FROM preference_items WHERE run_id = ?').pluck(true).get(runId) as number
  const byRating: Record<string, number> = Object.fromEntries(PREFERENCE_RATINGS.map((r) => [r, 0]))
  const bySafety: Record<string, number> = Object.fromEntries([...PAIR_SAFETY_LABELS, 'none'].map((s) => [s, 0]))
  const byAnnotator: Record<string, number> = {}
  const choicesByItem = new Map<number, string[]>()
  let skipped = 0
  for (const r of rows) {
    byAnnotator[r.annotator] = (byAnnotator[r.annotator] ?? 0) + 1
    if (r.choice === null) {
      skipped++
      continue
    }
    if (r.rating) byRating[r.rating]++
    bySafety[r.safety ?? 'none']++
    choicesByItem.set(r.item_id, [...(choicesByItem.get(r.item_id) ?? []), r.choice])
  }
  let comparisons = 0
  let agreeing = 0
  let shared = 0
  for (const choices of choicesByItem.values()) {
    if (choices.length < 2) continue
    shared++
    for (let i = 0; i < choices.length; i++) {
      for (let k = i + 1; k < choices.length; k++) {
        comparisons++
        if (choices[i] === choices[k]) agreeing++
      }
    }
  }
  return {
    items,
    prompts: config.prompts,
    judgements: rows.length - skipped,
    skipped,
    byRating,
    bySafety,
    byAnnotator,
    agreement: { items: shared, comparisons, agreeing, rate: comparisons > 0 ? agreeing / comparisons : null },
  }
}

/**
 * The session's judgements as preference pairs, one per (item, annotator) that was not skipped:
 * the chosen answer, the other, the strength and label; which source wrote each and who judged
 * go into `extra`.
 */
export function annotatedPairs(store: Store, runId: string): PreferencePair[] {
  const config = sessionConfig(store, runId)
  return judgementRows(store, runId)
    .filter((r) => r.choice !== null)
    .map((r) => {
      const messages = JSON.parse(r.messages) as ChatMessage[]
      const sourceOf = (answer: 'a' | 'b') => config.sources[answer === 'a' ? r.source_a : 1 - r.source_a].label
      const other = r.choice === 'a' ? 'b' : 'a'
      const lastUser = [...messages].reverse().find((m) => m.role === 'user')
      return {
        id: `${runId}-${r.position}-${r.annotator}`,
        prompt: lastUser?.content ?? '',
        messages,
        chosen: r.choice === 'a' ? r.answer_a : r.answer_b,
        rejected: r.choice === 'a' ? r.answer_b : r.answer_a,
        rating: r.rating ?? undefined,
        safety: r.safety ?? undefined,
        extra: { annotator: r.annotator, chosen_source: sourceOf(r.choice!), rejected_source: sourceOf(other), judged_at: r.created_at },
        source: `session ${runId} prompt ${r.position + 1}`,
      }
    })
}
