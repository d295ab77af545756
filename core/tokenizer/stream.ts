// Decoding while generating, one token at a time. A single byte-level token can be half of a
// UTF-8 character (an emoji is often 2-4 tokens), and SentencePiece-style decoders strip a
// leading space, so decoding token by token, or decoding only the new ids, gives "\uFFFD" and
// lost spaces ("The king said" + "▁said" must print " said", not "said"). This follows Hugging
// Face's DecodeStream: decode a small window of recent ids twice (with and without the new ones)
// and emit only the new, complete text. The window starts with the last prompt tokens, so the
// first new token is decoded in context too.

import type { DecodeOptions, Tokenizer } from './tokenizer'

/** Prompt tokens kept as context for the first new token. */
const PROMPT_CONTEXT = 4

export class DecodeStream {
  private readonly ids: number[]
  /** Start of the window that gives context (leading-space rules). */
  private prefixIndex = 0
  /** Ids before this have been emitted as text. */
  private readIndex: number

  /** `prompt`: the ids the generated ones continue (their text is never emitted). */
  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: DecodeOptions = {},
    prompt: number[] = [],
  ) {
    this.ids = prompt.slice(-PROMPT_CONTEXT)
    this.readIndex = this.ids.length
  }

  /** Adds one generated id; returns the text it completes ('' while a character is unfinished). */
  push(id: number): string {
    this.ids.push(id)
    const { prefix, full } = this.window()
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return ''
    this.advance()
    return full.slice(prefix.length)
  }

  /** The text still held back at the end of generation (an unfinished character stays U+FFFD). */
  flush(): string {
    const { prefix, full } = this.window()
    this.advance()
    return full.length > prefix.length ? full.slice(prefix.length) : ''
  }

  private window(): { prefix: string; full: string } {
    return {
      prefix: this.tokenizer.decode(this.ids.slice(this.prefixIndex, this.readIndex), this.opts),
      full: this.tokenizer.decode(this.ids.slice(this.prefixIndex), this.opts),
    }
  }

  private advance(): void {
    this.prefixIndex = this.readIndex
    this.readIndex = this.ids.length
  }
}

/** The text `ids` add after `prompt` (what a stream of them prints in total). */
export function decodeContinuation(tokenizer: Tokenizer, prompt: number[], ids: number[], opts: DecodeOptions = {}): string {
  const stream = new DecodeStream(tokenizer, opts, prompt)
  return ids.map((id) => stream.push(id)).join('') + stream.flush()
}
