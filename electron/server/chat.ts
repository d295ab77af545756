// The chat playground's engine: loads checkpoints (kept warm, two at most, for side-by-side),
// builds the prompt with the workbench chat template, and streams decoded text as tokens are
// sampled. Generations run one at a time: tfjs uses the whole CPU for one anyway.

import path from 'node:path'
import { initBackend, backendPreference } from '../../core/backend/index'
import type { Llama } from '../../core/model/llama'
import { generate } from '../../core/model/generate'
import { loadModel, modelFolderFingerprint } from '../../core/model/load'
import type { Tokenizer } from '../../core/tokenizer'
import { chatStopTokens, encodeChatPrompt, type ChatMessage } from '../../core/data/chatTemplate'
import type { BackendInfo } from '../../core/train/stages/types'
import { ApiError, type ChatResult, type ParsedArgs } from '../shared/api'

interface Loaded {
  dir: string
  /** The folder's files when loaded (core/model/load.ts): a re-saved checkpoint is loaded afresh. */
  fingerprint: string
  model: Llama
  tokenizer: Tokenizer
}

const MAX_LOADED = 2

export class ChatEngine {
  private loaded: Loaded[] = []
  private queue: Promise<unknown> = Promise.resolve()
  backend: BackendInfo | null = null

  constructor(private readonly options: { backend?: string } = {}) {}

  generate(args: ParsedArgs<'chat:generate'>, onText: (text: string) => void): Promise<ChatResult> {
    const next = this.queue.then(() => this.generateNow(args, onText))
    this.queue = next.catch(() => undefined)
    return next
  }

  private async generateNow(args: ParsedArgs<'chat:generate'>, onText: (text: string) => void): Promise<ChatResult> {
    if (!this.backend) this.backend = await initBackend(backendPreference(this.options.backend))
    const { model, tokenizer } = this.load(path.resolve(args.checkpoint))
    const prompt = chatPrompt(tokenizer, args.system, args.messages, model.config.max_seq_len - Math.min(args.maxTokens, model.config.max_seq_len >> 1))
    const maxNewTokens = Math.max(0, Math.min(args.maxTokens, model.config.max_seq_len - prompt.length))
    const ids: number[] = []
    let shown = ''
    const started = performance.now()
    const result = await generate(model, prompt, {
      maxNewTokens,
      temperature: args.temperature,
      topP: args.topP,
      topK: args.topK > 0 ? args.topK : undefined,
      seed: args.seed ?? Math.floor(Math.random() * 2 ** 31),
      stopIds: chatStopTokens(tokenizer),
      onToken: (id) => {
        ids.push(id)
        // Decode the whole reply each time and send what is new, holding back an incomplete
        // UTF-8 character (decoded as U+FFFD) until its next byte arrives.
        const text = tokenizer.decode(ids, { skipSpecial: true })
        if (text.endsWith('\uFFFD')) return
        if (text.length > shown.length && text.startsWith(shown)) onText(text.slice(shown.length))
        shown = text
      },
    })
    const seconds = (performance.now() - started) / 1000
    const text = tokenizer.decode(result.ids, { skipSpecial: true })
    // Flush what was held back: bytes that never completed a character stay as U+FFFD.
    if (text.length > shown.length && text.startsWith(shown)) onText(text.slice(shown.length))
    return {
      text,
      tokens: result.ids.length,
      stopReason: result.stoppedBy === 'stop' ? 'end of turn' : result.stoppedBy === 'length' ? 'max tokens' : 'aborted',
      tokensPerSec: seconds > 0 ? result.ids.length / seconds : 0,
    }
  }

  /** A checkpoint's model and tokenizer, from the cache (while its files are unchanged) or read from disk. */
  private load(dir: string): Loaded {
    let entry: Loaded
    try {
      const fingerprint = modelFolderFingerprint(dir)
      const hit = this.loaded.find((l) => l.dir === dir && l.fingerprint === fingerprint)
      if (hit) return hit
      const { model, tokenizer } = loadModel(dir)
      entry = { dir, fingerprint, model, tokenizer }
    } catch (error) {
      throw new ApiError(`cannot load the checkpoint ${dir}: ${(error as Error).message}`)
    }
    // A stale copy of the same folder goes, then the least recently loaded beyond MAX_LOADED.
    const stale = this.loaded.filter((l) => l.dir === dir)
    this.loaded = [entry, ...this.loaded.filter((l) => l.dir !== dir)]
    for (const old of [...stale, ...this.loaded.splice(MAX_LOADED)]) old.model.dispose()
    return entry
  }

  dispose(): void {
    for (const l of this.loaded) l.model.dispose()
    this.loaded = []
  }
}

/**
 * The conversation in the workbench's one chat template (core/data/chatTemplate), ending with the
 * assistant's role token. Oldest turns are dropped first when it does not fit in `budget` tokens.
 */
export function chatPrompt(tokenizer: Tokenizer, system: string | undefined, messages: ChatMessage[], budget: number): number[] {
  const head: ChatMessage[] = system ? [{ role: 'system', content: system }] : []
  let first = 0
  let ids = encodeChatPrompt(tokenizer, [...head, ...messages])
  while (ids.length > budget && first < messages.length - 1) {
    first += 1
    ids = encodeChatPrompt(tokenizer, [...head, ...messages.slice(first)])
  }
  // A single message longer than the context: keep its end (the part next to the reply).
  return ids.length > budget ? [tokenizer.special.bos, ...ids.slice(ids.length - budget + 1)] : ids
}
