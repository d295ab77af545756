// Decoding while generating, one token at a time. A single byte-level token can be half of a
// UTF-8 character (an emoji is often 2-4 tokens), and SentencePiece-style decoders strip a
// leading space, so decoding token by token gives "\uFFFD" and lost spaces. This follows
// Hugging Face's DecodeStream: decode a small window of recent ids twice (with and without the
// new ones) and emit only the new, complete text.

import type { DecodeOptions, Tokenizer } from './tokenizer'

export class DecodeStream {
  private ids: number[] = []
  /** Start of the window that gives context (leading-space rules). */
  private prefixIndex = 0
  /** Ids before this have been emitted as text. */
  private readIndex = 0

  constructor(
    private readonly tokenizer: Tokenizer,
    private readonly opts: DecodeOptions = {},
  ) {}

  /** Adds one generated id; returns the text it completes ('' while a character is unfinished). */
  push(id: number): string {
    this.ids.push(id)
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixIndex, this.readIndex), this.opts)
    const full = this.tokenizer.decode(this.ids.slice(this.prefixIndex), this.opts)
    if (full.length <= prefix.length || full.endsWith('\uFFFD')) return ''
    this.prefixIndex = this.readIndex
    this.readIndex = this.ids.length
    return full.slice(prefix.length)
  }
}
