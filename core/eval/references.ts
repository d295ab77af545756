// Scoring answers against a user's reference answers (a prompt set whose lines carry `reference`):
// exact match and contains, after the same light normalisation (case, surrounding whitespace and
// punctuation, runs of spaces). The gold_eval stage records them as eval/reference_exact and
// eval/reference_contains (and eval/reference_reward with a reward model). Pure functions.

/** Lowercased, whitespace collapsed, leading and trailing punctuation and quotes dropped. */
export function normaliseAnswer(text: string): string {
  return text
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[\s"'`.,;:!?()[\]{}]+|[\s"'`.,;:!?()[\]{}]+$/g, '')
}

export interface ReferenceScore {
  /** The normalised answer equals the normalised reference. */
  exact: boolean
  /** The normalised reference appears in the normalised answer as whole words. */
  contains: boolean
}

export function referenceScore(reference: string, answer: string): ReferenceScore {
  const ref = normaliseAnswer(reference)
  const ans = normaliseAnswer(answer)
  if (ref === '') throw new Error('referenceScore: the reference is empty')
  return { exact: ans === ref, contains: spacedWords(ans).includes(spacedWords(ref)) }
}

/** " w1 w2 ... " with punctuation as spaces, so `includes` matches whole words only. */
function spacedWords(text: string): string {
  return ` ${text.replace(/[.,;:!?"'`()]/g, ' ').split(' ').filter((w) => w !== '').join(' ')} `
}
