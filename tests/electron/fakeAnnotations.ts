// In-memory annotation handlers for the fake services: one imported dataset, and sessions whose
// answers are canned text streamed as chat:token events, like the real ones.
import type { AnnotationItem, ApiHandlers, EventSink, ParsedArgs } from '../../electron/shared/api'

type Channels = 'prefs:list' | 'prefs:start' | 'prefs:next' | 'prefs:judge' | 'prefs:undo' | 'prefs:summary' | 'prefs:finish'

export interface FakeAnnotationState {
  sessions: Map<string, { prompts: string[]; items: AnnotationItem[] }>
  judgements: ParsedArgs<'prefs:judge'>[]
}

export function createFakeAnnotations(emit: EventSink): { handlers: Pick<ApiHandlers, Channels>; state: FakeAnnotationState } {
  const state: FakeAnnotationState = { sessions: new Map(), judgements: [] }
  const mine = (id: string, annotator: string) => state.judgements.filter((j) => j.id === id && j.annotator === annotator)
  const session = (id: string) => {
    const s = state.sessions.get(id)
    if (!s) throw new Error(`no annotation session "${id}"`)
    return s
  }
  const progress = (id: string, annotator: string) => ({ done: mine(id, annotator).length, total: session(id).prompts.length })
  const handlers: Pick<ApiHandlers, Channels> = {
    'prefs:list': async () => [
      { id: 'prefs-hh', name: 'hh sample', status: 'finished', kind: 'imported', pairs: 120, createdAt: Date.UTC(2026, 0, 1) },
      ...[...state.sessions.entries()].map(([id, s]) => ({ id, name: id, status: 'running' as const, kind: 'annotated' as const, pairs: state.judgements.filter((j) => j.id === id && j.choice).length, prompts: s.prompts.length, createdAt: Date.UTC(2026, 0, 2) })),
    ],
    'prefs:start': async (args) => {
      const prompts = args.prompts.kind === 'typed' ? args.prompts.texts.filter((t) => t.trim()) : ['Prompt one?', 'Prompt two?']
      const id = `session-${state.sessions.size + 1}`
      state.sessions.set(id, { prompts, items: [] })
      return { id, prompts: prompts.length }
    },
    'prefs:next': async ({ id, annotator, requestId }) => {
      const s = session(id)
      const judged = new Set(mine(id, annotator).map((j) => s.items.find((i) => i.id === j.itemId)!.position))
      const position = s.prompts.findIndex((_, p) => !judged.has(p))
      if (position === -1) return { item: null, ...progress(id, annotator) }
      let item = s.items.find((i) => i.position === position)
      if (!item) {
        for (const [side, text] of [['a', `Answer A${position}`], ['b', `Answer B${position}`]]) emit('chat:token', { requestId: `${requestId}-${side}`, text })
        item = { id: 100 + position, position, messages: [{ role: 'user', content: s.prompts[position] }], answerA: `Answer A${position}`, answerB: `Answer B${position}` }
        s.items.push(item)
      }
      return { item, ...progress(id, annotator) }
    },
    'prefs:judge': async (args) => {
      state.judgements = state.judgements.filter((j) => !(j.id === args.id && j.itemId === args.itemId && j.annotator === args.annotator))
      state.judgements.push(args)
      return progress(args.id, args.annotator)
    },
    'prefs:undo': async ({ id, annotator }) => {
      const last = mine(id, annotator).at(-1)
      if (last) state.judgements.splice(state.judgements.indexOf(last), 1)
      const position = last ? session(id).items.find((i) => i.id === last.itemId)!.position : null
      return { position, ...progress(id, annotator) }
    },
    'prefs:summary': async ({ id }) => {
      const js = state.sessions.has(id) ? state.judgements.filter((j) => j.id === id) : []
      const count = <K extends 'rating' | 'safety'>(key: K, values: string[]) => Object.fromEntries(values.map((v) => [v, js.filter((j) => j.choice && (j[key] ?? 'none') === v).length]))
      return {
        items: state.sessions.get(id)?.items.length ?? 120,
        prompts: state.sessions.get(id)?.prompts.length ?? 120,
        judgements: js.filter((j) => j.choice).length,
        skipped: js.filter((j) => !j.choice).length,
        byRating: count('rating', ['significantly_better', 'better', 'slightly_better', 'negligibly_better']),
        bySafety: count('safety', ['only_chosen_safe', 'both_safe', 'both_unsafe', 'none']),
        byAnnotator: Object.fromEntries([...new Set(js.map((j) => j.annotator))].map((a) => [a, js.filter((j) => j.annotator === a).length])),
        agreement: { items: 2, comparisons: 2, agreeing: 1, rate: 0.5 },
      }
    },
    'prefs:finish': async () => ({ finished: true }),
  }
  return { handlers, state }
}
