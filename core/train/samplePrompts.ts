// The prompts a pretraining run samples from are cut out of validation text, whose windows start
// and end anywhere in a word ("ver the river ran thr"). A prompt that starts and ends on whole words
// reads as the sentence it came from, so the samples show what the model continues.

/** True when token `k` of `ids` begins with whitespace (it starts a new word); k >= 1. */
function startsWord(ids: number[], k: number, decode: (ids: number[]) => string): boolean {
  const before = decode(ids.slice(0, k))
  const after = decode(ids.slice(0, k + 1))
  // A token that completes a multi-byte character decodes differently in the prefix: no boundary.
  return after.startsWith(before) && /^\s/.test(after.slice(before.length))
}

/**
 * About `target` tokens of `ids` that start and end on a word boundary: from the first token that
 * begins a word (the window may start mid-word; the first token's own start cannot be seen, so it
 * counts as mid-word), to the first boundary at or after `target` tokens, within `slack` more.
 * Falls back to the plain first `target` tokens where the text has no spaces to cut at.
 */
export function wholeWordPrompt(ids: number[], decode: (ids: number[]) => string, target: number, slack = target): number[] {
  const plain = ids.slice(0, target)
  let start = 1
  while (start < Math.min(ids.length, target) && !startsWord(ids, start, decode)) start++
  if (start >= Math.min(ids.length, target)) return plain
  // The end is a boundary when the next token starts a word (or the text ends there).
  const isEnd = (end: number) => end === ids.length || startsWord(ids, end, decode)
  const limit = Math.min(ids.length, start + target + slack)
  for (let end = start + target; end <= limit; end++) if (isEnd(end)) return ids.slice(start, end)
  // No boundary after `target` tokens: the last one before it, if the prompt keeps a few words.
  for (let end = start + target - 1; end > start; end--) if (isEnd(end)) return ids.slice(start, end)
  return plain
}
