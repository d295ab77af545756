// A tokenizer seen the way llama.cpp and llama2.c see one: a dense list of token strings by id,
// each with a kind and a score, plus the BPE merges. Two styles can be exported:
//
//   byte-level  GPT-2-style byte-level BPE (what the workbench trains by default). llama.cpp runs it
//               as tokenizer model "gpt2" with a named pre-tokenizer whose split rule must be ours.
//   llama       SentencePiece-style BPE with byte fallback (Llama 2's): "▁" marks a space, the 256
//               byte tokens "<0x00>".."<0xFF>" cover every input. llama.cpp runs it as model
//               "llama", which merges the pair whose result has the highest score; a score of
//               minus the merge's rank makes that the same as BPE's merge order.
import { GPT2_PATTERN } from '../tokenizer/preTokenizers'
import { WORKBENCH_PATTERN } from '../tokenizer/format'
import type { Tokenizer } from '../tokenizer'

/** llama.cpp's token types (llama_token_type). */
export const TokenKind = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const

export interface ExportVocab {
  style: 'byte-level' | 'llama'
  /** Token text by id, as the tokenizer.json vocabulary spells it ("Ġthe", "▁the", "<0x0A>"). */
  tokens: string[]
  kinds: number[]
  scores: number[]
  /** "left right", in rank order. */
  merges: string[]
  /** byte-level only: llama.cpp's name for our split rule (tokenizer.ggml.pre). */
  preTokenizer?: 'starcoder' | 'gpt-2'
  /** llama only: a "▁" is put before the text (Llama 2 does; tokenizer.ggml.add_space_prefix). */
  addSpacePrefix?: boolean
}

/**
 * The llama.cpp pre-tokenizer whose split rule equals ours. WORKBENCH_PATTERN is GPT-2's rule with
 * every digit its own word; llama.cpp's "starcoder" first isolates digits, then applies GPT-2's rule
 * to the rest. They agree except on two or more whitespace characters right before a digit
 * (llama.cpp keeps the run whole, we split off its last space), see docs/architecture.md.
 */
function byteLevelPreTokenizer(json: Record<string, unknown>): 'starcoder' | 'gpt-2' | null {
  const pre = json.pre_tokenizer as Record<string, unknown> | null | undefined
  if (!pre) return null
  const steps = pre.type === 'Sequence' ? (pre.pretokenizers as Array<Record<string, unknown>>) : [pre]
  const [first, second] = steps
  if (steps.length === 2 && first.type === 'Split' && second.type === 'ByteLevel' && second.use_regex === false) {
    const pattern = (first.pattern as Record<string, unknown> | undefined)?.Regex
    if (pattern === WORKBENCH_PATTERN && first.behavior === 'Isolated') return 'starcoder'
    if (pattern === GPT2_PATTERN && first.behavior === 'Isolated') return 'gpt-2'
  }
  if (steps.length === 1 && first.type === 'ByteLevel' && first.use_regex !== false && first.add_prefix_space === false) return 'gpt-2'
  return null
}

function isByteLevel(json: Record<string, unknown>): boolean {
  const decoder = json.decoder as Record<string, unknown> | null | undefined
  return decoder?.type === 'ByteLevel'
}

/** A byte-fallback BPE with all 256 "<0xNN>" pieces: the Llama 2 style. */
function isLlamaStyle(json: Record<string, unknown>, tokenizer: Tokenizer): boolean {
  const model = json.model as Record<string, unknown>
  if (model.byte_fallback !== true) return false
  for (let b = 0; b < 256; b++) if (tokenizer.tokenToId(byteToken(b)) === undefined) return false
  return true
}

export function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`
}

/** Llama 2 puts "▁" before the text: a Prepend normalizer, or Metaspace with a prepend scheme. */
function prependsSpace(json: Record<string, unknown>): boolean {
  const mentions = (spec: unknown, type: string): Record<string, unknown>[] => {
    if (!spec || typeof spec !== 'object') return []
    const s = spec as Record<string, unknown>
    const children = (s.normalizers ?? s.pretokenizers) as unknown[] | undefined
    return [...(s.type === type ? [s] : []), ...(children ?? []).flatMap((c) => mentions(c, type))]
  }
  if (mentions(json.normalizer, 'Prepend').some((p) => p.prepend === '▁')) return true
  return mentions(json.pre_tokenizer, 'Metaspace').some((m) => m.prepend_scheme !== 'never' && m.add_prefix_space !== false)
}

/**
 * The tokenizer as an export vocabulary of exactly `vocabSize` ids (the model's embedding rows).
 * Throws with the reason when the tokenizer cannot be described to llama.cpp faithfully.
 */
export function exportVocab(tokenizer: Tokenizer, vocabSize: number): ExportVocab {
  const json = tokenizer.toJSON() as Record<string, unknown>
  const model = json.model as { merges: Array<string | [string, string]> }
  const merges = model.merges.map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m))
  const specialIds = new Set(Object.values(tokenizer.special))
  const added = (json.added_tokens as Array<{ id: number; special?: boolean }> | undefined) ?? []
  for (const t of added) if (t.special) specialIds.add(t.id)

  let style: ExportVocab['style']
  let preTokenizer: ExportVocab['preTokenizer']
  if (isLlamaStyle(json, tokenizer)) style = 'llama'
  else if (isByteLevel(json)) {
    const pre = byteLevelPreTokenizer(json)
    if (!pre) throw new Error('the byte-level tokenizer splits text with a rule llama.cpp has no name for (only the workbench rule and GPT-2\'s are exported)')
    style = 'byte-level'
    preTokenizer = pre
  } else {
    throw new Error('the tokenizer is neither byte-level BPE nor Llama-style BPE with <0xNN> byte tokens, so llama.cpp could not reproduce it')
  }

  // Each merged token scores minus its merge rank; everything else 0.
  const rankOf = new Map<string, number>()
  merges.forEach((m, rank) => {
    const merged = m.replace(' ', '')
    if (!rankOf.has(merged)) rankOf.set(merged, rank)
  })
  const tokens: string[] = []
  const kinds: number[] = []
  const scores: number[] = []
  for (let id = 0; id < vocabSize; id++) {
    const token = tokenizer.idToToken(id)
    if (token === undefined) throw new Error(`token id ${id} has no text in the tokenizer (the model has ${vocabSize} embedding rows)`)
    tokens.push(token)
    kinds.push(tokenKind(id, token, style, tokenizer, specialIds))
    const rank = rankOf.get(token)
    scores.push(rank === undefined ? 0 : -(rank + 1))
  }
  return {
    style,
    tokens,
    kinds,
    scores,
    merges,
    ...(preTokenizer ? { preTokenizer } : {}),
    ...(style === 'llama' ? { addSpacePrefix: prependsSpace(json) } : {}),
  }
}

function tokenKind(id: number, token: string, style: ExportVocab['style'], tokenizer: Tokenizer, specialIds: Set<number>): number {
  if (id === tokenizer.special.unk && style === 'llama') return TokenKind.UNKNOWN
  if (specialIds.has(id)) return TokenKind.CONTROL
  if (style === 'llama' && /^<0x[0-9A-F]{2}>$/.test(token)) return TokenKind.BYTE
  return TokenKind.NORMAL
}
