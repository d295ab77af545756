// Bytes <-> text helpers shared by the byte-level pieces of the tokenizer.
//
// GPT-2's "byte-level" trick: every byte 0..255 gets a printable stand-in character, so a BPE
// vocabulary can be stored as ordinary strings in tokenizer.json (a space becomes "Ġ", a newline
// "Ċ"). Hugging Face's ByteLevel pre-tokenizer and decoder use exactly this table.

/** byte -> its printable stand-in character (the GPT-2 `bytes_to_unicode` table). */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar()

/** stand-in character -> byte. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((ch, byte) => [ch, byte]))

function buildByteToChar(): string[] {
  const isPrintable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)
  const table: string[] = new Array(256)
  let next = 256 // non-printable bytes are moved to code points 256, 257, ... in byte order
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(isPrintable(b) ? b : next++)
  }
  return table
}

const encoder = new TextEncoder()
// ignoreBOM: a leading U+FEFF is text the user wrote, not a byte-order mark to drop.
const lossyDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

export function utf8Bytes(text: string): Uint8Array {
  return encoder.encode(text)
}

/** Decodes UTF-8; invalid sequences become U+FFFD (as Hugging Face does when decoding ids). */
export function utf8DecodeLossy(bytes: Uint8Array | number[]): string {
  return lossyDecoder.decode(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes))
}

/** Text -> its UTF-8 bytes written as byte-level stand-in characters. */
export function toByteLevel(text: string): string {
  // Pure ASCII is the common case: skip the TextEncoder round trip.
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x80) return toByteLevelSlow(text)
    out += BYTE_TO_CHAR[code]
  }
  return out
}

function toByteLevelSlow(text: string): string {
  let out = ''
  for (const b of utf8Bytes(text)) out += BYTE_TO_CHAR[b]
  return out
}

/** The Llama / SentencePiece name of a byte-fallback token, e.g. 10 -> "<0x0A>". */
export function byteTokenName(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`
}

/** "<0x0A>" -> 10; anything else -> undefined. */
export function parseByteToken(token: string): number | undefined {
  const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(token)
  return m ? parseInt(m[1], 16) : undefined
}
