// Patterns in tokenizer.json are Oniguruma regexes (the Rust library's engine). The ones real
// tokenizers use are valid JavaScript regexes with the `u` flag, except the scoped
// case-insensitive group `(?i:...)` (Llama 3), which we rewrite by hand.

/** A pattern field of tokenizer.json: `{ "String": "..." }` (literal) or `{ "Regex": "..." }`. */
export function compilePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as { String?: unknown; Regex?: unknown } | null
  if (p && typeof p.String === 'string') return new RegExp(escapeRegExp(p.String), 'gu')
  if (p && typeof p.Regex === 'string') return compileOniguruma(p.Regex, where)
  throw new Error(`${where}: expected { "String": ... } or { "Regex": ... }, got ${JSON.stringify(pattern)}`)
}

export function compileOniguruma(source: string, where: string): RegExp {
  try {
    return new RegExp(expandCaseInsensitiveGroups(source), 'gu')
  } catch (err) {
    throw new Error(`${where}: regex ${JSON.stringify(source)} is not supported here (${(err as Error).message})`)
  }
}

export function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/** `(?i:'s|'t)` -> `(?:'[sS]|'[tT])`: ASCII letters outside character classes become both cases. */
function expandCaseInsensitiveGroups(source: string): string {
  let out = ''
  let i = 0
  while (i < source.length) {
    if (!source.startsWith('(?i:', i)) {
      out += source[i++]
      continue
    }
    out += '(?:'
    i += 4
    let depth = 1
    let inClass = false
    while (i < source.length && depth > 0) {
      const ch = source[i]
      if (ch === '\\') {
        out += source.slice(i, i + 2)
        i += 2
        continue
      }
      if (ch === '[') inClass = true
      else if (ch === ']') inClass = false
      else if (!inClass && ch === '(') depth++
      else if (!inClass && ch === ')') depth--
      out += !inClass && /[a-zA-Z]/.test(ch) ? `[${ch.toLowerCase()}${ch.toUpperCase()}]` : ch
      i++
    }
  }
  return out
}

/** Splits text into [piece, matched] sections covering all of it, in order. */
export function splitByRegex(text: string, regex: RegExp): Array<[string, boolean]> {
  const sections: Array<[string, boolean]> = []
  let last = 0
  for (const m of text.matchAll(regex)) {
    if (m[0].length === 0) continue
    const start = m.index as number
    if (start > last) sections.push([text.slice(last, start), false])
    sections.push([m[0], true])
    last = start + m[0].length
  }
  if (last < text.length) sections.push([text.slice(last), false])
  return sections
}

/** Every match and every gap between matches, in order (the Split behaviour "Isolated"); the hot path of encoding. */
export function isolateByRegex(text: string, regex: RegExp): string[] {
  const re = new RegExp(regex.source, regex.flags) // own lastIndex, safe to reuse
  const out: string[] = []
  let last = 0
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const start = m.index
    if (m[0].length === 0) {
      re.lastIndex++
      continue
    }
    if (start > last) out.push(text.slice(last, start))
    out.push(m[0])
    last = start + m[0].length
  }
  if (last < text.length) out.push(text.slice(last))
  return out
}
