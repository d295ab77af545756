// The workbench's own preference JSONL: `prompt`, `chosen`, `rejected`, optionally `messages`
// (multi-turn), `rating` (one of the four Llama 2 strengths), `safety` (the pair's label), `id`,
// `category`; other fields kept. The reader is the one in core/data/preferences.ts; this file
// adds the writer, so what `prefs export` writes reads back the same.

import type { PreferencePair } from '../preferences'
export { parsePreferenceRecord as parseWorkbenchRecord } from '../preferences'

/** One line of the workbench format; `messages` only when the prompt is not a single user turn. */
export function toWorkbenchLine(pair: PreferencePair): Record<string, unknown> {
  const { id, prompt, messages, chosen, rejected, rating, safety, category, extra } = pair
  const multiTurn = messages.length !== 1 || messages[0].role !== 'user' || messages[0].content !== prompt
  return { ...extra, id, prompt, ...(multiTurn ? { messages } : {}), chosen, rejected, rating, safety, category }
}

/** One line of TRL's conversational preference format with an explicit prompt; rating and safety
 * ride along as extra columns (TRL ignores columns it does not know). */
export function toTrlLine(pair: PreferencePair): Record<string, unknown> {
  const { id, messages, chosen, rejected, rating, safety } = pair
  const margin = typeof pair.extra.margin === 'number' ? { margin: pair.extra.margin } : {}
  return {
    id,
    prompt: messages,
    chosen: [{ role: 'assistant', content: chosen }],
    rejected: [{ role: 'assistant', content: rejected }],
    ...margin,
    ...(rating ? { rating } : {}),
    ...(safety ? { safety } : {}),
  }
}
