// The annotation session on screen: the pair being judged (its two answers streaming in), the
// judgement being built (A or B, strength, safety label), and progress. Every judgement goes to
// the services at once, which write it to SQLite before answering.

import { defineStore } from 'pinia'
import { useApi } from '../api'
import type { AnnotationItem, ApiArgs } from '../../../electron/shared/api'

export type Rating = 'significantly_better' | 'better' | 'slightly_better' | 'negligibly_better'
export type SafetyLabel = 'only_chosen_safe' | 'both_safe' | 'both_unsafe'

/** Keys 1-4, strongest first, as Llama 2's annotators rated. */
export const RATINGS: { value: Rating; label: string; key: string }[] = [
  { value: 'significantly_better', label: 'Significantly better', key: '1' },
  { value: 'better', label: 'Better', key: '2' },
  { value: 'slightly_better', label: 'Slightly better', key: '3' },
  { value: 'negligibly_better', label: 'Negligibly better / unsure', key: '4' },
]

export const SAFETY_LABELS: { value: SafetyLabel; label: string; key: string }[] = [
  { value: 'only_chosen_safe', label: 'Only the chosen answer is safe', key: 's' },
  { value: 'both_safe', label: 'Both safe', key: 'd' },
  { value: 'both_unsafe', label: 'Both unsafe', key: 'u' },
]

let requestCounter = 0

export const useAnnotationStore = defineStore('annotation', {
  state: () => ({
    sessionId: '',
    annotator: '',
    item: null as AnnotationItem | null,
    /** Text streamed so far for A and B while the pair is being generated. */
    streaming: { a: '', b: '' },
    requestId: '',
    loading: false,
    done: 0,
    total: 0,
    finished: false,
    choice: null as 'a' | 'b' | null,
    rating: null as Rating | null,
    safety: null as SafetyLabel | null,
    error: '',
  }),
  getters: {
    canSave: (s) => s.item !== null && s.choice !== null && s.rating !== null && !s.loading,
    answerA: (s) => s.item?.answerA ?? s.streaming.a,
    answerB: (s) => s.item?.answerB ?? s.streaming.b,
  },
  actions: {
    /** Tokens of the pair being generated arrive as chat:token events under our two request ids. */
    listen(): () => void {
      return useApi().on('chat:token', ({ requestId, text }) => {
        if (!this.requestId) return
        if (requestId === `${this.requestId}-a`) this.streaming.a += text
        if (requestId === `${this.requestId}-b`) this.streaming.b += text
      })
    },
    async start(args: ApiArgs<'prefs:start'>, annotator: string) {
      await this.run(async () => {
        const { id } = await useApi().prefsStart(args)
        this.sessionId = id
      })
      if (this.sessionId) await this.open(this.sessionId, annotator)
    },
    async open(sessionId: string, annotator: string) {
      this.sessionId = sessionId
      this.annotator = annotator
      this.finished = false
      await this.next()
    },
    async next() {
      this.item = null
      this.choice = null
      this.rating = null
      this.safety = null
      this.streaming = { a: '', b: '' }
      this.requestId = `ann${Date.now().toString(36)}${++requestCounter}`
      await this.run(async () => {
        const result = await useApi().prefsNext({ id: this.sessionId, annotator: this.annotator, requestId: this.requestId })
        this.item = result.item
        this.done = result.done
        this.total = result.total
        this.finished = result.item === null
      })
    },
    async save() {
      if (!this.canSave || !this.item) return
      const judgement = { id: this.sessionId, itemId: this.item.id, annotator: this.annotator, choice: this.choice, rating: this.rating ?? undefined, safety: this.safety ?? undefined }
      await this.run(async () => {
        await useApi().prefsJudge(judgement)
      })
      if (!this.error) await this.next()
    },
    async skip() {
      if (!this.item || this.loading) return
      const item = this.item
      await this.run(async () => {
        await useApi().prefsJudge({ id: this.sessionId, itemId: item.id, annotator: this.annotator, choice: null })
      })
      if (!this.error) await this.next()
    },
    async undo() {
      if (this.loading) return
      await this.run(async () => {
        await useApi().prefsUndo({ id: this.sessionId, annotator: this.annotator })
      })
      if (!this.error) await this.next()
    },
    close() {
      this.sessionId = ''
      this.item = null
      this.finished = false
    },
    async run(work: () => Promise<void>) {
      this.loading = true
      this.error = ''
      try {
        await work()
      } catch (error) {
        this.error = (error as Error).message
      } finally {
        this.loading = false
      }
    },
  },
})
