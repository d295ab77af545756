// Run ids: short, unique and sortable by creation time. Eight base-36 characters of milliseconds
// (enough until the year 5188) followed by four random ones, e.g. "mih4k2x0a9fz".

import { randomInt } from 'node:crypto'

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz'

/** Last time part handed out by this process, so ids made in the same millisecond still sort in order. */
let lastMs = 0

export function newRunId(now = Date.now()): string {
  const ms = Math.max(now, lastMs + 1)
  lastMs = ms
  const time = ms.toString(36).padStart(8, '0')
  let suffix = ''
  for (let i = 0; i < 4; i++) suffix += ALPHABET[randomInt(ALPHABET.length)]
  return time + suffix
}
