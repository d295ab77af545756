// Diversity of several answers to the same prompt (the temperature sweep, Llama 2 Figure 21):
// distinct-n (share of n-grams that are unique) and Self-BLEU (each answer's BLEU against the
// others; high means the answers repeat each other). Words are lowercased whitespace tokens.
// Pure functions.

/** Lowercased words of a text. */
export function words(text: string): string[] {
  return text.toLowerCase().split(/\s+/).filter((w) => w !== '')
}

function ngrams(tokens: string[], n: number): string[] {
  const out: string[] = []
  for (let i = 0; i + n <= tokens.length; i++) out.push(tokens.slice(i, i + n).join(' '))
  return out
}

function counts(items: string[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const item of items) out.set(item, (out.get(item) ?? 0) + 1)
  return out
}

/** Distinct n-grams over all n-grams of the answers together (NaN when there are none). */
export function distinctN(answers: string[], n: number): number {
  const all = answers.flatMap((a) => ngrams(words(a), n))
  return all.length === 0 ? NaN : new Set(all).size / all.length
}

/**
 * Sentence BLEU of `hypothesis` against `references` (words): the geometric mean of the clipped
 * n-gram precisions for n = 1..maxN times the brevity penalty (closest reference length). A
 * precision with no match counts `epsilon` matches (Chen and Cherry's smoothing 1), so one missing
 * 4-gram does not zero the score. A hypothesis shorter than maxN words uses orders up to its length
 * (short answers, common at low temperature, would otherwise all score 0).
 */
export function sentenceBleu(hypothesis: string[], references: string[][], opts: { maxN?: number; epsilon?: number } = {}): number {
  const epsilon = opts.epsilon ?? 0.1
  if (hypothesis.length === 0) return 0
  const maxN = Math.min(opts.maxN ?? 4, hypothesis.length)
  let logSum = 0
  for (let n = 1; n <= maxN; n++) {
    const hyp = counts(ngrams(hypothesis, n))
    const total = [...hyp.values()].reduce((s, c) => s + c, 0)
    const refMax = new Map<string, number>()
    for (const ref of references) for (const [g, c] of counts(ngrams(ref, n))) refMax.set(g, Math.max(refMax.get(g) ?? 0, c))
    let matched = 0
    for (const [g, c] of hyp) matched += Math.min(c, refMax.get(g) ?? 0)
    logSum += Math.log((matched === 0 ? epsilon : matched) / total) / maxN
  }
  const closest = references.map((r) => r.length).reduce((best, len) => (Math.abs(len - hypothesis.length) < Math.abs(best - hypothesis.length) || (Math.abs(len - hypothesis.length) === Math.abs(best - hypothesis.length) && len < best) ? len : best), Infinity)
  const brevity = hypothesis.length >= closest ? 1 : Math.exp(1 - closest / hypothesis.length)
  return brevity * Math.exp(logSum)
}

/** Mean BLEU of each answer against all the others (NaN for fewer than two answers). */
export function selfBleu(answers: string[], opts: { maxN?: number; epsilon?: number } = {}): number {
  if (answers.length < 2) return NaN
  const tokens = answers.map(words)
  const scores = tokens.map((hyp, i) => sentenceBleu(hyp, tokens.filter((_, j) => j !== i), opts))
  return scores.reduce((s, v) => s + v, 0) / scores.length
}
