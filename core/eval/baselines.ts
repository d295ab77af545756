// Trivial rankers a reward model must beat to have learned anything a user needs (on real human
// safety pairs a length rule alone scores well above chance): "the shorter answer wins", "the
// longer answer wins", and a bag-of-words logistic ranker fit on the training pairs. Pure
// TypeScript, deterministic. Each returns its accuracy on the given pairs; a tie counts half.

/** What a baseline sees of a pair. */
export interface AnswerPair {
  chosen: string
  rejected: string
}

/** Accuracy of a scorer that prefers the answer with the higher score; ties count 1/2. */
function accuracyOf(pairs: AnswerPair[], prefers: (p: AnswerPair) => number): number {
  if (pairs.length === 0) return NaN
  let right = 0
  for (const p of pairs) {
    const d = prefers(p)
    right += d > 0 ? 1 : d === 0 ? 0.5 : 0
  }
  return right / pairs.length
}

/** "The shorter answer wins" (length in characters). */
export function shorterWinsAccuracy(pairs: AnswerPair[]): number {
  return accuracyOf(pairs, (p) => p.rejected.length - p.chosen.length)
}

/** "The longer answer wins" (length in characters). */
export function longerWinsAccuracy(pairs: AnswerPair[]): number {
  return accuracyOf(pairs, (p) => p.chosen.length - p.rejected.length)
}

/** Lowercased words (letters and digits) of a text. */
export function wordsOf(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []
}

export interface BowOptions {
  /** Most frequent training words kept as features (plus the word count). */
  maxWords?: number
  steps?: number
  lr?: number
  /** L2 penalty on the weights. */
  l2?: number
}

/**
 * A logistic ranker on bag-of-words count differences: features x = counts(chosen) -
 * counts(rejected) over the most frequent training words, plus the difference in word count;
 * P(chosen wins) = sigmoid(w . x). No bias: swapping the answers negates x, so the model is
 * antisymmetric as a ranker must be. Fit by full-batch gradient descent on the training pairs
 * with an L2 penalty (deterministic: same pairs, same weights).
 */
export class BowRanker {
  private constructor(
    private readonly vocab: Map<string, number>,
    private readonly weights: Float64Array,
  ) {}

  static fit(train: AnswerPair[], opts: BowOptions = {}): BowRanker {
    const maxWords = opts.maxWords ?? 2000
    const steps = opts.steps ?? 300
    const lr = opts.lr ?? 0.5
    const l2 = opts.l2 ?? 1e-3
    const vocab = topWords(train, maxWords)
    const features = train.map((p) => pairFeatures(vocab, p))
    const scale = featureScale(features, vocab.size + 1)
    const weights = new Float64Array(vocab.size + 1)
    const grad = new Float64Array(weights.length)
    for (let step = 0; step < steps && train.length > 0; step++) {
      grad.fill(0)
      for (const x of features) {
        // d/dw of -log sigmoid(w.x) = -(1 - sigmoid(w.x)) x
        const g = -(1 - sigmoid(dot(weights, x, scale)))
        for (const [i, v] of x) grad[i] += (g * v * scale[i]) / train.length
      }
      for (let i = 0; i < weights.length; i++) weights[i] -= lr * (grad[i] + l2 * weights[i])
    }
    // Fold the scale into the weights so prediction needs no second table.
    for (let i = 0; i < weights.length; i++) weights[i] *= scale[i]
    return new BowRanker(vocab, weights)
  }

  /** w . x for a pair: > 0 prefers the chosen answer. */
  margin(pair: AnswerPair): number {
    return dot(this.weights, pairFeatures(this.vocab, pair))
  }

  accuracy(pairs: AnswerPair[]): number {
    return accuracyOf(pairs, (p) => this.margin(p))
  }
}

/** Sparse features: index -> value; the last index is the word-count difference. */
type Sparse = Map<number, number>

function pairFeatures(vocab: Map<string, number>, p: AnswerPair): Sparse {
  const x: Sparse = new Map()
  const add = (text: string, sign: number) => {
    const words = wordsOf(text)
    for (const w of words) {
      const i = vocab.get(w)
      if (i !== undefined) x.set(i, (x.get(i) ?? 0) + sign)
    }
    x.set(vocab.size, (x.get(vocab.size) ?? 0) + sign * words.length)
  }
  add(p.chosen, 1)
  add(p.rejected, -1)
  return x
}

function topWords(pairs: AnswerPair[], max: number): Map<string, number> {
  const counts = new Map<string, number>()
  for (const p of pairs) for (const w of [...wordsOf(p.chosen), ...wordsOf(p.rejected)]) counts.set(w, (counts.get(w) ?? 0) + 1)
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, max)
  return new Map(top.map(([w], i) => [w, i]))
}

/** 1 / root-mean-square of each feature over the training pairs (1 for an unused feature), so one learning rate fits all. */
function featureScale(features: Sparse[], width: number): Float64Array {
  const sumSq = new Float64Array(width)
  for (const x of features) for (const [i, v] of x) sumSq[i] += v * v
  return sumSq.map((s) => (s > 0 ? 1 / Math.sqrt(s / features.length) : 1))
}

function dot(w: Float64Array, x: Sparse, scale?: Float64Array): number {
  let s = 0
  for (const [i, v] of x) s += w[i] * v * (scale ? scale[i] : 1)
  return s
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z))
}

export interface BaselineAccuracies {
  baseline_shorter: number
  baseline_longer: number
  baseline_bow: number
}

/** The three baselines on `heldOut`, the bag-of-words ranker fit on `train`. */
export function baselineAccuracies(train: AnswerPair[], heldOut: AnswerPair[]): BaselineAccuracies {
  return {
    baseline_shorter: shorterWinsAccuracy(heldOut),
    baseline_longer: longerWinsAccuracy(heldOut),
    baseline_bow: BowRanker.fit(train).accuracy(heldOut),
  }
}
