// Hugging Face pre-tokenizers (the `pre_tokenizer` field of tokenizer.json): they cut normalized
// text into words; BPE then runs inside each word. A pre-tokenizer maps a list of pieces to a
// new list of pieces; `atStart` says whether the first piece begins the whole input (Metaspace's
// "first" prepend scheme needs it).

import { toByteLevel } from './bytes'
import { asArray } from './normalizers'
import { compileOniguruma, compilePattern, isolateByRegex, splitByRegex } from './regex'

export type PreTokenize = (pieces: string[], atStart: boolean) => string[]

/** GPT-2's split rule, used by the ByteLevel pre-tokenizer when `use_regex` is true. */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/** Rust's `char::is_whitespace` / Oniguruma's `\s` (see regex.ts), not JavaScript's `\s`. */
const WHITESPACE_RUN = compileOniguruma('\\s+', 'WhitespaceSplit')
const WORDS_OR_PUNCTUATION = compileOniguruma('\\w+|[^\\w\\s]+', 'Whitespace')

type SplitBehavior = 'Removed' | 'Isolated' | 'MergedWithPrevious' | 'MergedWithNext' | 'Contiguous'

export function compilePreTokenizer(json: unknown, where = 'pre_tokenizer'): PreTokenize {
  if (json === null || json === undefined) return (pieces) => pieces
  const spec = json as Record<string, unknown>
  switch (spec.type) {
    case 'Sequence': {
      const steps = asArray(spec.pretokenizers, `${where}.pretokenizers`).map((p, i) => compilePreTokenizer(p, `${where}.pretokenizers[${i}]`))
      return (pieces, atStart) => steps.reduce((ps, step) => step(ps, atStart), pieces)
    }
    case 'Split': {
      const regex = compilePattern(spec.pattern, `${where}.pattern`)
      const behavior = checkBehavior(spec.behavior, `${where}.behavior`)
      const invert = spec.invert === true
      return (pieces) => pieces.flatMap((p) => splitPiece(p, regex, behavior, invert))
    }
    case 'ByteLevel': {
      const addPrefixSpace = spec.add_prefix_space !== false // Hugging Face's default is true
      const regex = spec.use_regex === false ? null : compileOniguruma(GPT2_PATTERN, where)
      const withPrefix = (piece: string) => (addPrefixSpace && !piece.startsWith(' ') ? ' ' + piece : piece)
      if (!regex) return (pieces) => pieces.map((piece) => toByteLevel(withPrefix(piece)))
      return (pieces) => pieces.flatMap((piece) => isolateByRegex(withPrefix(piece), regex).map(toByteLevel))
    }
    case 'Metaspace': {
      const replacement = typeof spec.replacement === 'string' ? spec.replacement : '▁'
      const scheme = metaspacePrependScheme(spec)
      const split = spec.split !== false
      const marker = compilePattern({ String: replacement }, where)
      return (pieces, atStart) =>
        pieces.flatMap((piece, i) => {
          let text = piece.replaceAll(' ', replacement)
          const prepend = scheme === 'always' || (scheme === 'first' && atStart && i === 0)
          if (prepend && !text.startsWith(replacement)) text = replacement + text
          return split ? splitPiece(text, marker, 'MergedWithNext', false) : [text]
        })
    }
    case 'Digits': {
      const regex = new RegExp(spec.individual_digits === true ? '\\p{N}' : '\\p{N}+', 'gu')
      return (pieces) => pieces.flatMap((p) => splitPiece(p, regex, 'Isolated', false))
    }
    case 'WhitespaceSplit':
      return (pieces) => pieces.flatMap((p) => splitPiece(p, WHITESPACE_RUN, 'Removed', false))
    case 'Whitespace':
      return (pieces) => pieces.flatMap((p) => splitPiece(p, WORDS_OR_PUNCTUATION, 'Removed', true))
    default:
      throw new Error(
        `${where}.type ${JSON.stringify(spec.type)} is not supported (supported: Sequence, Split, ByteLevel, Metaspace, Digits, WhitespaceSplit, Whitespace)`,
      )
  }
}

/** Metaspace has used `prepend_scheme` ("always" | "first" | "never") since tokenizers 0.14, `add_prefix_space` before. */
export function metaspacePrependScheme(spec: Record<string, unknown>): 'always' | 'first' | 'never' {
  if (spec.prepend_scheme === 'always' || spec.prepend_scheme === 'first' || spec.prepend_scheme === 'never') return spec.prepend_scheme
  return spec.add_prefix_space === false ? 'never' : 'always'
}

function checkBehavior(value: unknown, where: string): SplitBehavior {
  const known: SplitBehavior[] = ['Removed', 'Isolated', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']
  if (known.includes(value as SplitBehavior)) return value as SplitBehavior
  throw new Error(`${where}: expected one of ${known.join(', ')}, got ${JSON.stringify(value)}`)
}

/**
 * The Split pre-tokenizer on one piece, following Hugging Face exactly: a match merges with its
 * neighbour only when that neighbour is not itself a match ("▁▁hi" -> "▁", "▁hi" for
 * MergedWithNext). Empty pieces are dropped.
 */
export function splitPiece(text: string, regex: RegExp, behavior: SplitBehavior, invert: boolean): string[] {
  if (behavior === 'Isolated') return isolateByRegex(text, regex) // keeps everything, so `invert` changes nothing
  const sections = splitByRegex(text, regex).map(([s, matched]) => [s, matched !== invert] as [string, boolean])
  const out: string[] = []
  if (behavior === 'MergedWithNext') {
    // Walk backwards so each match can join the piece that follows it.
    let nextWasMatch = false
    for (let i = sections.length - 1; i >= 0; i--) {
      const [section, matched] = sections[i]
      if (matched && !nextWasMatch && out.length > 0) out[out.length - 1] = section + out[out.length - 1]
      else out.push(section)
      nextWasMatch = matched
    }
    return out.reverse()
  }
  let previousWasMatch = false
  for (const [section, matched] of sections) {
    const joinPrevious =
      out.length > 0 &&
      ((behavior === 'MergedWithPrevious' && matched && !previousWasMatch) || (behavior === 'Contiguous' && matched && previousWasMatch))
    if (behavior === 'Removed' && matched) {
      // dropped
    } else if (joinPrevious) out[out.length - 1] += section
    else out.push(section)
    previousWasMatch = matched
  }
  return out
}
