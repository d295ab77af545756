// The annotation handlers (the Preferences screen): start a session over a prompt set and two
// sources, serve each prompt's two answers (generated once, streamed as chat:token events, order
// randomised and stored, never sent to the page), record judgements the moment they are made,
// undo, and summarise a dataset. The data lives in the store (core/tracking/annotations.ts).

import path from 'node:path'
import type { ChatMessage } from '../../core/data/chatTemplate'
import { readPromptSet } from '../../core/data/prompts'
import { loadPreferenceDataset } from '../../core/data/preferences/dataset'
import type { Store } from '../../core/tracking/store'
import {
  addItem,
  annotationSummary,
  createAnnotationSession,
  getItemAt,
  isAnnotationSession,
  judgedCount,
  nextPosition,
  readSessionPrompts,
  saveJudgement,
  sessionConfig,
  undoLastJudgement,
  type AnswerSource,
} from '../../core/tracking/annotations'
import { ApiError, type ApiHandlers, type EventSink, type PreferenceDatasetInfo } from '../shared/api'
import type { ChatEngine } from './chat'

type AnnotationChannels = 'prefs:list' | 'prefs:start' | 'prefs:next' | 'prefs:judge' | 'prefs:undo' | 'prefs:summary' | 'prefs:finish'

export interface AnnotationDeps {
  store: Store
  chat: ChatEngine
  emit: EventSink
  /** Throws an ApiError when the page may not read this path. */
  checkPathAllowed(p: string, field: string): void
  /** Throws an ApiError when this is not a checkpoint the app may load. */
  checkCheckpoint(p: string, field: string): void
  /** 0..1; Math.random by default (tests pass their own). */
  random?: () => number
}

export function createAnnotationHandlers(deps: AnnotationDeps): Pick<ApiHandlers, AnnotationChannels> {
  const { store, chat, emit } = deps
  const random = deps.random ?? Math.random

  function session(id: string) {
    try {
      return { config: sessionConfig(store, id), prompts: readSessionPrompts(store, id) }
    } catch (error) {
      throw new ApiError(`no annotation session "${id}" (${(error as Error).message})`, 'not_found')
    }
  }

  function progress(id: string, annotator: string, total: number) {
    return { done: judgedCount(store, id, annotator), total }
  }

  async function promptsOf(source: { kind: 'file'; path: string } | { kind: 'dataset'; runId: string } | { kind: 'typed'; texts: string[] }): Promise<{ prompts: ChatMessage[][]; label: string }> {
    try {
      if (source.kind === 'typed') {
        const prompts = source.texts.map((t) => t.trim()).filter(Boolean).map((content): ChatMessage[] => [{ role: 'user', content }])
        return { prompts, label: 'typed' }
      }
      if (source.kind === 'file') {
        deps.checkPathAllowed(source.path, 'prompts')
        return { prompts: readPromptSet(path.resolve(source.path)).items.map((i) => i.messages), label: path.resolve(source.path) }
      }
      // An earlier dataset's prompts, each conversation once.
      const seen = new Set<string>()
      const prompts: ChatMessage[][] = []
      for (const pair of await loadPreferenceDataset(store, source.runId)) {
        const key = JSON.stringify(pair.messages)
        if (!seen.has(key)) prompts.push(pair.messages)
        seen.add(key)
      }
      return { prompts, label: `dataset ${source.runId}` }
    } catch (error) {
      if (error instanceof ApiError) throw error
      throw new ApiError(`prompts: ${(error as Error).message}`)
    }
  }

  /** Generates one answer, streaming its text as chat:token events with this request id. */
  async function answer(source: AnswerSource, messages: ChatMessage[], maxTokens: number, requestId: string): Promise<string> {
    const system = messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n') || undefined
    const turns = messages.filter((m): m is ChatMessage & { role: 'user' | 'assistant' } => m.role !== 'system')
    const result = await chat.generate(
      { requestId, checkpoint: source.checkpoint, system, messages: turns, temperature: source.temperature, topP: 0.95, topK: 0, maxTokens, seed: Math.floor(random() * 2 ** 31) },
      (text) => emit('chat:token', { requestId, text }),
    )
    return result.text
  }

  return {
    'prefs:list': async () =>
      store.listRuns({ stage: 'preferences' }).map((r): PreferenceDatasetInfo => {
        const config = store.getRunRecord(r.id).config
        const annotated = isAnnotationSession(config)
        const pairs = annotated ? annotationSummary(store, r.id).judgements : Number(store.getRun(r.id).params.pairs ?? 0)
        return { id: r.id, name: r.name, status: r.status, kind: annotated ? 'annotated' : 'imported', pairs, prompts: annotated ? Number(config.prompts) : undefined, createdAt: r.createdAt }
      }),
    'prefs:start': async (args) => {
      const { prompts, label } = await promptsOf(args.prompts)
      if (prompts.length === 0) throw new ApiError('prompts: the prompt set is empty')
      args.sources.forEach((s, i) => deps.checkCheckpoint(s.checkpoint, `sources.${i}.checkpoint`))
      const labelOf = (s: { checkpoint: string; temperature: number }) => `${path.basename(path.dirname(s.checkpoint))}/${path.basename(s.checkpoint)} · T=${s.temperature}`
      const sources = args.sources.map((s) => ({ checkpoint: path.resolve(s.checkpoint), temperature: s.temperature, label: labelOf(s) })) as [AnswerSource, AnswerSource]
      if (sources[0].checkpoint === sources[1].checkpoint && sources[0].temperature === sources[1].temperature) {
        throw new ApiError('sources: the two sources are the same checkpoint at the same temperature; pick two checkpoints, or two temperatures')
      }
      const id = createAnnotationSession(store, { name: args.name, config: { sources, maxTokens: args.maxTokens, promptSource: label }, prompts })
      emit('run:update', { id, status: 'running' })
      return { id, prompts: prompts.length }
    },
    'prefs:next': async ({ id, annotator, requestId }) => {
      const { config, prompts } = session(id)
      const position = nextPosition(store, id, annotator, prompts.length)
      if (position >= prompts.length) return { item: null, ...progress(id, annotator, prompts.length) }
      let item = getItemAt(store, id, position)
      if (!item) {
        // First time this prompt is shown: which source answers as A is drawn now and stored.
        const sourceA = random() < 0.5 ? 0 : 1
        const messages = prompts[position]
        const answerA = await answer(config.sources[sourceA], messages, config.maxTokens, `${requestId}-a`)
        const answerB = await answer(config.sources[1 - sourceA], messages, config.maxTokens, `${requestId}-b`)
        item = addItem(store, id, { position, messages, answerA, answerB, sourceA })
      }
      return { item, ...progress(id, annotator, prompts.length) }
    },
    'prefs:judge': async ({ id, itemId, annotator, choice, rating, safety }) => {
      const { prompts } = session(id)
      try {
        saveJudgement(store, id, { itemId, annotator, choice, rating, safety })
      } catch (error) {
        throw new ApiError((error as Error).message)
      }
      return progress(id, annotator, prompts.length)
    },
    'prefs:undo': async ({ id, annotator }) => {
      const { prompts } = session(id)
      const position = undoLastJudgement(store, id, annotator)
      return { position, ...progress(id, annotator, prompts.length) }
    },
    'prefs:summary': async ({ id }) => {
      session(id)
      return annotationSummary(store, id)
    },
    'prefs:finish': async ({ id }) => {
      session(id)
      const run = store.getRunRecord(id)
      if (run.status === 'running' || run.status === 'interrupted') store.finishRun(id, 'finished')
      emit('run:update', { id, status: 'finished' })
      return { finished: true }
    },
  }
}
