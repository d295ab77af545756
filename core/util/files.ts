// Writing files with errors that say which file: Node's write errors (ENOSPC, EIO, EDQUOT ...)
// come from a descriptor and do not name the file, so a full disk would read "no space left on
// device, write" with no hint of what was being written.

/** Runs `write` (which writes `file`); an OS error is rethrown naming the file, its code kept. */
export function writingFile<T>(file: string, write: () => T): T {
  try {
    return write()
  } catch (err) {
    throw namedWriteError(file, err)
  }
}

/** `could not write <file>: no space left on device (ENOSPC)`; other errors pass through. */
export function namedWriteError(file: string, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (!(err instanceof Error) || typeof e.code !== 'string' || err.message.includes(file)) return err
  const reason = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+( '.*')?$/, '')
  return Object.assign(new Error(`could not write ${file}: ${reason} (${e.code})`, { cause: err }), { code: e.code })
}
