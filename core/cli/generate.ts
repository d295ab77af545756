// `workbench generate --model <run|checkpoint> --prompt "..."`: stream a generation to stdout.
import { initBackend, backendPreference } from '../backend'
import { encodeChatPrompt, chatStopTokens, type ChatMessage } from '../data'
import { resolveModelRef } from '../jobs/checkpoints'
import { generate } from '../model/generate'
import { DecodeStream } from '../tokenizer'
import { Store } from '../tracking/store'
import { resolveHome } from '../tracking/home'
import { loadModel } from '../model/load'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench generate --model <run|checkpoint> --prompt "text" [--chat] [--system "..."]',
  '                          [--max-tokens 128] [--temperature 0.8] [--top-k 0] [--top-p 1] [--seed 0] [--json]',
  '',
  'Without --chat the prompt is continued as plain text (pretrained models); with --chat it is sent as',
  'a user turn in the chat template and the answer ends at <|end|> (fine-tuned models).',
].join('\n')

const OPTIONS = {
  ...COMMON_OPTIONS,
  model: { type: 'string' as const },
  prompt: { type: 'string' as const },
  chat: { type: 'boolean' as const },
  system: { type: 'string' as const },
  'max-tokens': { type: 'string' as const },
  temperature: { type: 'string' as const },
  'top-k': { type: 'string' as const },
  'top-p': { type: 'string' as const },
  seed: { type: 'string' as const },
}

/** Parses a numeric option with a message naming it. */
function numberOption(value: unknown, name: string, fallback: number, check: (x: number) => boolean, rule: string): number {
  if (value === undefined) return fallback
  const x = Number(value)
  if (value === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`generate: --${name} must be ${rule}, got "${value}"`)
  return x
}

export async function runGenerateCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, OPTIONS, 'generate')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  if (typeof v.model !== 'string') throw new UsageError('generate: --model <run id or checkpoint folder> is required')
  if (typeof v.prompt !== 'string') throw new UsageError('generate: --prompt "text" is required')
  const maxTokens = numberOption(v['max-tokens'], 'max-tokens', 128, (x) => Number.isInteger(x) && x >= 1, 'a whole number >= 1')
  const temperature = numberOption(v.temperature, 'temperature', 0.8, (x) => x >= 0, 'a number >= 0')
  const topK = numberOption(v['top-k'], 'top-k', 0, (x) => Number.isInteger(x) && x >= 0, 'a whole number >= 0')
  const topP = numberOption(v['top-p'], 'top-p', 1, (x) => x > 0 && x <= 1, 'a number in (0, 1]')
  const seed = numberOption(v.seed, 'seed', 0, Number.isInteger, 'a whole number')

  const home = resolveHome(v.home as string | undefined)
  const store = Store.open(home)
  let dir: string
  try {
    dir = resolveModelRef(store, v.model, '--model').checkpointDir
  } finally {
    store.close()
  }
  await initBackend(backendPreference(v.backend as string | undefined))
  const { model, tokenizer } = loadModel(dir)
  try {
    let promptIds: number[]
    let stopIds: number[]
    if (v.chat) {
      const messages: ChatMessage[] = [...(typeof v.system === 'string' ? [{ role: 'system' as const, content: v.system }] : []), { role: 'user', content: v.prompt }]
      promptIds = encodeChatPrompt(tokenizer, messages)
      stopIds = chatStopTokens(tokenizer)
    } else {
      promptIds = tokenizer.encode(v.prompt, { bos: true })
      stopIds = [tokenizer.special.eos]
    }
    const room = model.config.max_seq_len - promptIds.length
    if (room < 1) throw new UsageError(`generate: the prompt is ${promptIds.length} tokens, the model's context is ${model.config.max_seq_len}`)
    // The stream decodes each new token in the context of the last prompt tokens, so a
    // SentencePiece-style decoder keeps the space before the first new word.
    const stream = new DecodeStream(tokenizer, { skipSpecial: true }, promptIds)
    let text = ''
    const started = performance.now()
    if (!v.json && !v.chat) io.write(v.prompt)
    const result = await generate(model, promptIds, {
      maxNewTokens: Math.min(maxTokens, room),
      temperature,
      topK,
      topP,
      seed,
      stopIds,
      onToken: (id) => {
        const piece = stream.push(id)
        text += piece
        if (!v.json && piece) io.write(piece)
      },
    })
    const seconds = (performance.now() - started) / 1000
    const rest = stream.flush()
    text += rest
    if (v.json) {
      io.out(jsonLine({ type: 'generation', model: dir, prompt: v.prompt, text, tokens: result.ids.length, stopped_by: result.stoppedBy, tokens_per_s: result.ids.length / seconds }))
    } else {
      io.write(rest + '\n')
    }
    return 0
  } finally {
    model.dispose()
  }
}
