// Where commands write. The real process streams in production; a buffer in tests.

export interface CliIO {
  /** One line on stdout (a newline is added). */
  out(line: string): void
  /** One line on stderr (a newline is added). */
  err(line: string): void
  /** Raw text on stdout (the progress bar redraws with \r). */
  write(text: string): void
  /** True when stdout is a terminal: progress bar instead of plain lines. */
  isTTY: boolean
}

export function processIO(): CliIO {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    write: (text) => process.stdout.write(text),
    isTTY: Boolean(process.stdout.isTTY),
  }
}

/** Collects output in memory (tests). */
export function bufferIO(): CliIO & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = []
  const stderr: string[] = []
  return {
    stdout,
    stderr,
    out: (line) => stdout.push(line),
    err: (line) => stderr.push(line),
    write: (text) => stdout.push(text),
    isTTY: false,
  }
}
