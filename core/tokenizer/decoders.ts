// Hugging Face decoders (the `decoder` field of tokenizer.json): a chain that turns the token
// strings of a sequence back into text. Each step maps a list of strings to a list of strings;
// the results are joined at the end.

import { CHAR_TO_BYTE, parseByteToken, utf8Bytes, utf8DecodeLossy } from './bytes'
import { asArray } from './normalizers'
import { metaspacePrependScheme } from './preTokenizers'
import { compilePattern } from './regex'

export type Decode = (tokens: string[]) => string[]

export function compileDecoder(json: unknown, where = 'decoder'): Decode {
  if (json === null || json === undefined) return (tokens) => tokens
  const spec = json as Record<string, unknown>
  switch (spec.type) {
    case 'Sequence': {
      const steps = asArray(spec.decoders, `${where}.decoders`).map((d, i) => compileDecoder(d, `${where}.decoders[${i}]`))
      return (tokens) => steps.reduce((ts, step) => step(ts), tokens)
    }
    case 'ByteLevel':
      return (tokens) => [decodeByteLevel(tokens)]
    case 'Replace': {
      const regex = compilePattern(spec.pattern, `${where}.pattern`)
      const content = String(spec.content)
      return (tokens) => tokens.map((t) => t.replace(regex, () => content))
    }
    case 'ByteFallback':
      return decodeByteFallback
    case 'Fuse':
      return (tokens) => [tokens.join('')]
    case 'Strip': {
      const content = String(spec.content ?? ' ')
      const start = Number(spec.start ?? 0)
      const stop = Number(spec.stop ?? 0)
      return (tokens) => tokens.map((t) => stripToken(t, content, start, stop))
    }
    case 'Metaspace': {
      const replacement = typeof spec.replacement === 'string' ? spec.replacement : '▁'
      const stripFirstSpace = metaspacePrependScheme(spec) !== 'never'
      return (tokens) =>
        tokens.map((t, i) => {
          const text = t.replaceAll(replacement, ' ')
          return i === 0 && stripFirstSpace && text.startsWith(' ') ? text.slice(1) : text
        })
    }
    default:
      throw new Error(`${where}.type ${JSON.stringify(spec.type)} is not supported (supported: Sequence, ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace)`)
  }
}

/** Byte-level characters back to bytes, then UTF-8. A token with a character outside the table (an added token such as "<s>" is fine, "<|émoji|>" is not) contributes its own UTF-8 bytes, as in Hugging Face. */
function decodeByteLevel(tokens: string[]): string {
  const bytes: number[] = []
  for (const token of tokens) {
    const mapped: number[] = []
    let allMapped = true
    for (const ch of token) {
      const b = CHAR_TO_BYTE.get(ch)
      if (b === undefined) {
        allMapped = false
        break
      }
      mapped.push(b)
    }
    if (allMapped) bytes.push(...mapped)
    else bytes.push(...utf8Bytes(token))
  }
  return utf8DecodeLossy(bytes)
}

/** Runs of "<0xNN>" tokens become the text their bytes spell; invalid UTF-8 gives one U+FFFD per byte (Hugging Face's rule). */
function decodeByteFallback(tokens: string[]): string[] {
  const out: string[] = []
  let pending: number[] = []
  const flush = () => {
    if (pending.length === 0) return
    try {
      out.push(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(pending)))
    } catch {
      out.push(...pending.map(() => '\uFFFD'))
    }
    pending = []
  }
  for (const token of tokens) {
    const byte = parseByteToken(token)
    if (byte !== undefined) pending.push(byte)
    else {
      flush()
      out.push(token)
    }
  }
  flush()
  return out
}

function stripToken(token: string, content: string, start: number, stop: number): string {
  let chars = [...token]
  for (let i = 0; i < start && chars[0] === content; i++) chars = chars.slice(1)
  for (let i = 0; i < stop && chars[chars.length - 1] === content; i++) chars = chars.slice(0, -1)
  return chars.join('')
}
