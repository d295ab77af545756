// Hugging Face normalizers (the `normalizer` field of tokenizer.json): text -> text, applied to
// each stretch of text between added tokens. Only the kinds BPE tokenizers use are supported.

import { compilePattern, WHITESPACE } from './regex'

export type Normalize = (text: string) => string

const identity: Normalize = (text) => text

export function compileNormalizer(json: unknown, where = 'normalizer'): Normalize {
  if (json === null || json === undefined) return identity
  const spec = json as Record<string, unknown>
  switch (spec.type) {
    case 'Sequence': {
      const steps = asArray(spec.normalizers, `${where}.normalizers`).map((n, i) => compileNormalizer(n, `${where}.normalizers[${i}]`))
      return (text) => steps.reduce((t, step) => step(t), text)
    }
    case 'Prepend': {
      const prefix = String(spec.prepend)
      return (text) => (text.length > 0 ? prefix + text : text)
    }
    case 'Replace': {
      const regex = compilePattern(spec.pattern, `${where}.pattern`)
      const content = String(spec.content)
      return (text) => text.replace(regex, () => content)
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = spec.type
      return (text) => text.normalize(form)
    }
    case 'Lowercase':
      return (text) => text.toLowerCase()
    case 'Strip': {
      const left = spec.strip_left !== false
      const right = spec.strip_right !== false
      // Rust's whitespace (U+0085 yes, U+FEFF no), not JavaScript's trim().
      const leading = new RegExp(`^${WHITESPACE}+`, 'u')
      const trailing = new RegExp(`${WHITESPACE}+$`, 'u')
      return (text) => {
        let out = text
        if (left) out = out.replace(leading, '')
        if (right) out = out.replace(trailing, '')
        return out
      }
    }
    default:
      throw new Error(`${where}.type ${JSON.stringify(spec.type)} is not supported (supported: Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip)`)
  }
}

export function asArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new Error(`${where}: expected a list, got ${JSON.stringify(value)}`)
  return value
}
