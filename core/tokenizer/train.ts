// BPE training on bytes, the minbpe / Hugging Face way, made fast:
//   1. pre-tokenize every text and count unique words (the corpus is read once);
//   2. each unique word becomes a list of byte symbols, weighted by its count;
//   3. a pair-count index (pair -> count, pair -> words containing it) and a max-heap of pairs
//      with lazy invalidation give the most frequent pair in O(log n); a merge only revisits the
//      words that contain that pair.
// Ties between equally frequent pairs go to the smaller (left id, right id), so training is
// deterministic.

import { BYTE_TO_CHAR, utf8Bytes } from './bytes'
import { MinHeap } from './heap'

export interface TrainedBpe {
  /** Token strings in id order (after the specials): the alphabet (256 byte tokens by default), then merged tokens. */
  tokens: string[]
  /** Merges in rank order, as pairs of token strings. */
  merges: Array<[string, string]>
}

export interface TrainBpeOptions {
  /** How many tokens to learn beyond the alphabet. */
  maxNewTokens: number
  /**
   * The initial symbols. Default: the 256 bytes as byte-level characters, and words are split
   * into their UTF-8 bytes (GPT-2 style). Given: words are split into characters, each of which
   * must be in the alphabet (SentencePiece style, rare characters fall back to bytes later).
   */
  alphabet?: string[]
  onProgress?: (merges: number) => void
}

const PAIR_BASE = 2 ** 22
const pairKey = (a: number, b: number) => a * PAIR_BASE + b

interface Word {
  symbols: number[]
  count: number
}

/** Counts words: `split` cuts one text into pre-tokenized words. */
export function countWords(texts: Iterable<string>, split: (text: string) => string[]): Map<string, number> {
  const counts = new Map<string, number>()
  for (const text of texts) {
    for (const word of split(text)) counts.set(word, (counts.get(word) ?? 0) + 1)
  }
  return counts
}

export function trainBpe(wordCounts: Map<string, number>, options: TrainBpeOptions): TrainedBpe {
  // Symbol ids 0..alphabet-1 are the alphabet (bytes by default); learned tokens follow.
  const tokens: string[] = (options.alphabet ?? BYTE_TO_CHAR).slice()
  const idOfToken = new Map<string, number>(tokens.map((t, i) => [t, i]))
  const symbolsOf = options.alphabet
    ? (word: string) => [...word].map((ch) => idOfToken.get(ch) ?? missingSymbol(ch))
    : (word: string) => [...utf8Bytes(word)]
  const words: Word[] = [...wordCounts].map(([word, count]) => ({ symbols: symbolsOf(word), count }))

  const pairCounts = new Map<number, number>()
  const wordsWithPair = new Map<number, number[]>()
  words.forEach((word, w) => {
    const s = word.symbols
    for (let i = 0; i + 1 < s.length; i++) {
      const key = pairKey(s[i], s[i + 1])
      pairCounts.set(key, (pairCounts.get(key) ?? 0) + word.count)
      addWordToPair(wordsWithPair, key, w)
    }
  })

  type Entry = { count: number; key: number }
  const heap = new MinHeap<Entry>((x, y) => x.count > y.count || (x.count === y.count && x.key < y.key))
  for (const [key, count] of pairCounts) heap.push({ count, key })

  const merges: Array<[string, string]> = []
  const emitted = new Set<number>()
  const lastVisit = new Int32Array(words.length).fill(-1)
  let step = 0
  let learned = 0
  while (learned < options.maxNewTokens) {
    const best = popBestPair(heap, pairCounts)
    if (!best) break // every word is a single token already
    const left = Math.floor(best.key / PAIR_BASE)
    const right = best.key % PAIR_BASE
    const text = tokens[left] + tokens[right]
    // Two different pairs can spell the same string ("ab"+"c", "a"+"bc"): they share one id,
    // exactly as they will when encoding by string.
    let merged = idOfToken.get(text)
    if (merged === undefined) {
      merged = tokens.length
      tokens.push(text)
      idOfToken.set(text, merged)
      learned++
    }
    // A pair can come back after a duplicate string reused an id; tokenizer.json lists each pair
    // once (Hugging Face keeps one rank per pair), at its first rank.
    if (!emitted.has(best.key)) merges.push([tokens[left], tokens[right]])
    emitted.add(best.key)
    step++

    const touched = new Set<number>()
    for (const w of wordsWithPair.get(best.key) ?? []) {
      if (lastVisit[w] === step) continue // listed twice
      lastVisit[w] = step
      mergeInWord(words[w], w, left, right, merged, pairCounts, wordsWithPair, touched)
    }
    wordsWithPair.delete(best.key)
    for (const key of touched) {
      const count = pairCounts.get(key) ?? 0
      if (count > 0) heap.push({ count, key })
    }
    if (options.onProgress && step % 100 === 0) options.onProgress(merges.length)
  }
  options.onProgress?.(merges.length)
  return { tokens, merges }
}

function missingSymbol(ch: string): never {
  throw new Error(`BPE training: character ${JSON.stringify(ch)} is not in the alphabet`)
}

function popBestPair(heap: MinHeap<{ count: number; key: number }>, pairCounts: Map<number, number>) {
  for (let e = heap.pop(); e; e = heap.pop()) {
    if (pairCounts.get(e.key) === e.count && e.count > 0) return e // otherwise a stale entry
  }
  return undefined
}

function addWordToPair(index: Map<number, number[]>, key: number, word: number): void {
  const list = index.get(key)
  if (list === undefined) index.set(key, [word])
  else if (list[list.length - 1] !== word) list.push(word)
}

/** Replaces every (left, right) in one word, moving the word's pair counts from old pairs to new. */
function mergeInWord(
  word: Word,
  w: number,
  left: number,
  right: number,
  merged: number,
  pairCounts: Map<number, number>,
  wordsWithPair: Map<number, number[]>,
  touched: Set<number>,
): void {
  const s = word.symbols
  const out: number[] = []
  for (let i = 0; i < s.length; i++) {
    if (i + 1 < s.length && s[i] === left && s[i + 1] === right) {
      out.push(merged)
      i++
    } else out.push(s[i])
  }
  if (out.length === s.length) return // the pair was merged away by an earlier merge
  for (let i = 0; i + 1 < s.length; i++) {
    const key = pairKey(s[i], s[i + 1])
    pairCounts.set(key, (pairCounts.get(key) ?? 0) - word.count)
    touched.add(key)
  }
  for (let i = 0; i + 1 < out.length; i++) {
    const key = pairKey(out[i], out[i + 1])
    pairCounts.set(key, (pairCounts.get(key) ?? 0) + word.count)
    touched.add(key)
    addWordToPair(wordsWithPair, key, w)
  }
  word.symbols = out
}
