// Writing preference pairs as JSONL, a line at a time through a small buffer, so a large dataset
// is written while it streams in.

import fs from 'node:fs'
import path from 'node:path'
import type { PreferencePair } from '../preferences'
import { toTrlLine, toWorkbenchLine } from './workbench'

export const EXPORT_FORMATS = ['workbench', 'trl'] as const
export type ExportFormat = (typeof EXPORT_FORMATS)[number]

const FLUSH_BYTES = 1 << 20

export class PairWriter {
  private readonly fd: number
  private buffer: string[] = []
  private buffered = 0
  count = 0

  constructor(
    readonly file: string,
    private readonly format: ExportFormat = 'workbench',
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    this.fd = fs.openSync(file, 'w')
  }

  write(pair: PreferencePair): void {
    const line = JSON.stringify(this.format === 'trl' ? toTrlLine(pair) : toWorkbenchLine(pair)) + '\n'
    this.buffer.push(line)
    this.buffered += line.length
    this.count++
    if (this.buffered >= FLUSH_BYTES) this.flush()
  }

  private flush(): void {
    if (this.buffer.length > 0) fs.writeSync(this.fd, this.buffer.join(''))
    this.buffer = []
    this.buffered = 0
  }

  close(): void {
    this.flush()
    fs.closeSync(this.fd)
  }
}
