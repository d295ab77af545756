// Size and sha256 of an artifact. A folder's digest covers its files in sorted order (relative
// path, size, then contents for each), so the same checkpoint folder always hashes the same.

import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export interface Fingerprint {
  bytes: number
  sha256: string
}

const CHUNK = 1 << 20

export function fingerprint(absPath: string): Fingerprint {
  if (!fs.existsSync(absPath)) throw new Error(`artifact ${absPath} does not exist`)
  const stat = fs.statSync(absPath)
  if (stat.isFile()) {
    const hash = crypto.createHash('sha256')
    const bytes = hashFileInto(hash, absPath)
    return { bytes, sha256: hash.digest('hex') }
  }
  if (stat.isDirectory()) return fingerprintFolder(absPath)
  throw new Error(`artifact ${absPath} is neither a file nor a folder`)
}

function fingerprintFolder(dir: string): Fingerprint {
  const hash = crypto.createHash('sha256')
  let bytes = 0
  for (const rel of listFilesSorted(dir)) {
    const abs = path.join(dir, rel)
    // Separators keep "a"+"bc" and "ab"+"c" apart; forward slashes make it the same on Windows.
    hash.update(`${rel.split(path.sep).join('/')}\0${fs.statSync(abs).size}\0`)
    bytes += hashFileInto(hash, abs)
  }
  return { bytes, sha256: hash.digest('hex') }
}

/** Relative paths of all files under dir, sorted by code unit so the order is platform-independent. */
export function listFilesSorted(dir: string): string[] {
  const out: string[] = []
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? path.join(rel, entry.name) : entry.name
      if (entry.isDirectory()) walk(child)
      else if (entry.isFile()) out.push(child)
    }
  }
  walk('')
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

function hashFileInto(hash: crypto.Hash, file: string): number {
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.allocUnsafe(CHUNK)
  let total = 0
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, CHUNK, null)
      if (n === 0) break
      hash.update(buf.subarray(0, n))
      total += n
    }
  } finally {
    fs.closeSync(fd)
  }
  return total
}
