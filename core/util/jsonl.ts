// The JSONL files the workbench writes itself (a stage's selected answers, a win-rate run's pairs):
// one JSON value per line, blank lines ignored; a bad line is an error naming file and line.
import fs from 'node:fs'

export function readJsonLines<T>(file: string): T[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as T
      } catch (err) {
        throw new Error(`${file}:${i + 1}: not valid JSON (${(err as Error).message})`)
      }
    })
}
