// The chat playground's engine: loads checkpoints (kept warm, two at most, for side-by-side),
// builds the prompt with the workbench chat template, and streams decoded text as tokens are
// sampled; scores a reply with a reward model when one is picked. Generations and scores run one
// at a time: tfjs uses the whole CPU for one anyway.

import path from 'node:path'
import { initBackend, backendPreference } from '../../core/backend/index'
import type { Llama } from '../../core/model/llama'
import { generate } from '../../core/model/generate'
import { loadModel, modelFolderFingerprint } from '../../core/model/load'
import { scoreConversations, type RewardModel } from '../../core/eval/rewardScore'
import { DecodeStream, type Tokenizer } from '../../core/tokenizer'
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
  private reward: (RewardModel & { dir: string; fingerprint: string; tokenizer: Tokenizer; dispose(): void }) | null = null
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
    // Decodes each token in context (whole characters only, spaces a Llama decoder would strip kept).
    const stream = new DecodeStream(tokenizer, { skipSpecial: true }, prompt)
    let text = ''
    const started = performance.now()
    const result = await generate(model, prompt, {
      maxNewTokens,
      temperature: args.temperature,
      topP: args.topP,
      topK: args.topK > 0 ? args.topK : undefined,
      seed: args.seed ?? Math.floor(Math.random() * 2 ** 31),
      stopIds: chatStopTokens(tokenizer),
      onToken: (id) => {
        const piece = stream.push(id)
        text += piece
        if (piece) onText(piece)
      },
    })
    const seconds = (performance.now() - started) / 1000
    // Flush what was held back: bytes that never completed a character stay as U+FFFD.
    const rest = stream.flush()
    text += rest
    if (rest) onText(rest)
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

  /** A reward model's score of `answer` after the conversation (queued with the generations). */
  score(args: ParsedArgs<'reward:score'>): Promise<{ score: number }> {
    const next = this.queue.then(async () => {
      if (!this.backend) this.backend = await initBackend(backendPreference(this.options.backend))
      const rm = this.loadReward(path.resolve(args.checkpoint))
      const messages: ChatMessage[] = [...(args.system ? [{ role: 'system' as const, content: args.system }] : []), ...args.messages]
      return { score: (await scoreConversations(rm, rm.tokenizer, [{ messages, answer: args.answer }]))[0] }
    })
    this.queue = next.catch(() => undefined)
    return next
  }

  /** The one reward model kept loaded (reloaded when another folder, or the same one re-saved, is asked for). */
  private loadReward(dir: string): RewardModel & { tokenizer: Tokenizer } {
    let fingerprint: string
    try {
      fingerprint = modelFolderFingerprint(dir)
      if (this.reward?.dir === dir && this.reward.fingerprint === fingerprint) return this.reward
      const loaded = loadModel(dir, { heads: ['reward'], scoringOnly: true })
      this.reward?.dispose()
      this.reward = { dir, fingerprint, model: loaded.model, head: loaded.heads.reward!, tokenizer: loaded.tokenizer, dispose: loaded.dispose }
      return this.reward
    } catch (error) {
      throw new ApiError(`cannot load the reward model ${dir}: ${(error as Error).message}`)
    }
  }

  dispose(): void {
    for (const l of this.loaded) l.model.dispose()
    this.loaded = []
    this.reward?.dispose()
    this.reward = null
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
