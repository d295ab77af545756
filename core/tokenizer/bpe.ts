// The BPE model: a vocabulary plus an ordered list of merges, applied to one pre-tokenized
// word at a time exactly as Hugging Face `tokenizers` does (lowest-ranked merge first, leftmost
// first on ties), with optional byte fallback (Llama: a character missing from the vocabulary
// becomes its UTF-8 bytes as "<0xNN>" tokens) and an unknown token.

import { byteTokenName, utf8Bytes } from './bytes'
import { MinHeap } from './heap'

export interface BpeOptions {
  unkToken: string | null
  byteFallback: boolean
  /** Consecutive unknown characters become one unknown token. */
  fuseUnk: boolean
  /** A word that is itself in the vocabulary is one token, whatever the merges say (Llama 3). */
  ignoreMerges: boolean
}

/** Pair ids are packed into one number: left * PAIR_BASE + right (exact below 2^53). */
const PAIR_BASE = 2 ** 22
const pairKey = (left: number, right: number) => left * PAIR_BASE + right

/** Words longer than this are encoded but not cached (SentencePiece-style files have no pre-tokenizer, so a "word" can be a whole document). */
const MAX_CACHED_WORD = 256
const MAX_CACHE_ENTRIES = 500_000

interface Merge {
  rank: number
  /** Id of the merged token. */
  id: number
}

export class BpeModel {
  readonly tokenToId: ReadonlyMap<string, number>
  readonly idToToken: ReadonlyMap<number, string>
  private readonly merges = new Map<number, Merge>()
  private readonly unkId: number | undefined
  private readonly cache = new Map<string, number[]>()

  constructor(
    vocab: Map<string, number>,
    merges: Array<[string, string]>,
    readonly options: BpeOptions,
  ) {
    this.tokenToId = vocab
    const idToToken = new Map<number, string>()
    for (const [token, id] of vocab) {
      if (!Number.isInteger(id) || id < 0 || id >= PAIR_BASE) throw new Error(`model.vocab: token ${JSON.stringify(token)} has invalid id ${id}`)
      idToToken.set(id, token)
    }
    this.idToToken = idToToken
    merges.forEach(([left, right], rank) => {
      const leftId = vocab.get(left)
      const rightId = vocab.get(right)
      const mergedId = vocab.get(left + right)
      if (leftId === undefined || rightId === undefined || mergedId === undefined) {
        throw new Error(`model.merges[${rank}]: "${left} ${right}" uses a token missing from model.vocab`)
      }
      const key = pairKey(leftId, rightId)
      if (!this.merges.has(key)) this.merges.set(key, { rank, id: mergedId })
    })
    this.unkId = options.unkToken === null ? undefined : vocab.get(options.unkToken)
    if (options.unkToken !== null && this.unkId === undefined) {
      throw new Error(`model.unk_token "${options.unkToken}" is not in model.vocab`)
    }
  }

  get mergeCount(): number {
    return this.merges.size
  }

  /** One pre-tokenized word -> token ids (cached per word). */
  encodeWord(word: string): number[] {
    const cached = this.cache.get(word)
    if (cached) return cached
    const ids = this.encodeUncached(word)
    if (word.length <= MAX_CACHED_WORD) {
      if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear()
      this.cache.set(word, ids)
    }
    return ids
  }

  private encodeUncached(word: string): number[] {
    if (this.options.ignoreMerges) {
      const whole = this.tokenToId.get(word)
      if (whole !== undefined) return [whole]
    }
    return this.applyMerges(this.initialSymbols(word))
  }

  /** One symbol per character; unknown characters fall back to bytes or the unknown token. */
  private initialSymbols(word: string): number[] {
    const symbols: number[] = []
    let previousWasUnk = false
    for (const ch of word) {
      const id = this.tokenToId.get(ch)
      if (id !== undefined) {
        symbols.push(id)
        previousWasUnk = false
        continue
      }
      const bytes = this.options.byteFallback ? this.byteFallbackIds(ch) : undefined
      if (bytes) {
        symbols.push(...bytes)
        previousWasUnk = false
        continue
      }
      if (this.unkId === undefined) {
        throw new Error(`cannot encode character ${JSON.stringify(ch)}: it is not in the vocabulary and the tokenizer has no unk_token or byte fallback`)
      }
      if (!(this.options.fuseUnk && previousWasUnk)) symbols.push(this.unkId)
      previousWasUnk = true
    }
    return symbols
  }

  private byteFallbackIds(ch: string): number[] | undefined {
    const ids: number[] = []
    for (const byte of utf8Bytes(ch)) {
      const id = this.tokenToId.get(byteTokenName(byte))
      if (id === undefined) return undefined
      ids.push(id)
    }
    return ids
  }

  /**
   * Applies merges lowest rank first. The symbols form a linked list; a heap holds candidate
   * merges of neighbouring pairs, and entries that went stale (a neighbour was merged away) are
   * skipped when popped. O(n log n), so long SentencePiece-style "words" stay fast.
   */
  private applyMerges(symbols: number[]): number[] {
    const n = symbols.length
    if (n < 2) return symbols
    const ids = symbols.slice()
    const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1))
    const prev = Array.from({ length: n }, (_, i) => i - 1)
    const alive = new Array<boolean>(n).fill(true)
    type Candidate = { rank: number; pos: number; left: number; right: number; id: number }
    const heap = new MinHeap<Candidate>((a, b) => a.rank < b.rank || (a.rank === b.rank && a.pos < b.pos))
    const consider = (pos: number) => {
      const after = next[pos]
      if (pos < 0 || after < 0) return
      const merge = this.merges.get(pairKey(ids[pos], ids[after]))
      if (merge) heap.push({ rank: merge.rank, pos, left: ids[pos], right: ids[after], id: merge.id })
    }
    for (let i = 0; i + 1 < n; i++) consider(i)

    for (let c = heap.pop(); c; c = heap.pop()) {
      const after = next[c.pos]
      const stale = !alive[c.pos] || after < 0 || ids[c.pos] !== c.left || ids[after] !== c.right
      if (stale) continue
      // Merge `after` into `pos`.
      ids[c.pos] = c.id
      alive[after] = false
      next[c.pos] = next[after]
      if (next[after] >= 0) prev[next[after]] = c.pos
      consider(prev[c.pos])
      consider(c.pos)
    }
    const out: number[] = []
    for (let i = 0; i >= 0; i = next[i]) out.push(ids[i])
    return out
  }
}
