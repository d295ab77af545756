// Patterns in tokenizer.json are Oniguruma regexes (the Rust library's engine). The ones real
// tokenizers use are valid JavaScript regexes with the `u` flag, with two differences we rewrite
// by hand:
//   - the scoped case-insensitive group `(?i:...)` (Llama 3);
//   - `\s` / `\S`: JavaScript's `\s` includes U+FEFF and excludes U+0085 (NEL), Oniguruma's is
//     the opposite. Oniguruma's Unicode `\s` is U+0009..U+000D, U+0085 and the categories Zl, Zp,
//     Zs (its RE doc), i.e. [\t\n\v\f\r\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000],
//     which is exactly Unicode's White_Space property, so `\s` becomes `\p{White_Space}` (valid
//     inside and outside character classes).

/** A pattern field of tokenizer.json: `{ "String": "..." }` (literal) or `{ "Regex": "..." }`. */
export function compilePattern(pattern: unknown, where: string): RegExp {
  const p = pattern as { String?: unknown; Regex?: unknown } | null
  if (p && typeof p.String === 'string') return new RegExp(escapeRegExp(p.String), 'gu')
  if (p && typeof p.Regex === 'string') return compileOniguruma(p.Regex, where)
  throw new Error(`${where}: expected { "String": ... } or { "Regex": ... }, got ${JSON.stringify(pattern)}`)
}

export function compileOniguruma(source: string, where: string): RegExp {
  try {
    return new RegExp(translateWhitespaceClasses(expandCaseInsensitiveGroups(source)), 'gu')
  } catch (err) {
    throw new Error(`${where}: regex ${JSON.stringify(source)} is not supported here (${(err as Error).message})`)
  }
}

/** Oniguruma's (and Rust's `char::is_whitespace`) whitespace, for code outside regex patterns too. */
export const WHITESPACE = '\\p{White_Space}'

/** `\s` -> `\p{White_Space}`, `\S` -> `\P{White_Space}`, inside and outside `[...]`; other escapes (`\\s` is a backslash then "s") stay. */
export function translateWhitespaceClasses(source: string): string {
  let out = ''
  for (let i = 0; i < source.length; i++) {
    const ch = source[i]
    if (ch !== '\\') {
      out += ch
      continue
    }
    const next = source[i + 1] ?? ''
    out += next === 's' ? WHITESPACE : next === 'S' ? '\\P{White_Space}' : ch + next
    i++
  }
  return out
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
