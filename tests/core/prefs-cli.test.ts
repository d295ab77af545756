// `workbench prefs import|export|list` through runCli, with a real job worker for the import.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import crypto from 'node:crypto'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { Store } from '../../core/tracking/store'
import { addItem, createAnnotationSession, saveJudgement } from '../../core/tracking/annotations'
import { readPreferenceList } from '../../core/data/preferences/read'

const fixtures = path.join(__dirname, '..', 'fixtures', 'preferences')
let home: string

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-prefs-cli-'))
})

async function cli(argv: string[]) {
  const io = bufferIO()
  const code = await runCli([...argv, '--home', home], io)
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n'), lines: io.stdout }
}

describe('workbench prefs', () => {
  let hhRun = ''

  it('imports an HH file as a preferences run, skipping bad lines, and prints its statistics', async () => {
    const { code, stdout, lines } = await cli(['prefs', 'import', path.join(fixtures, 'hh-malformed.jsonl'), '--skip-invalid', '--name', 'hh small', '--json'])
    expect(code).toBe(0)
    const stats = JSON.parse(lines.find((l) => l.includes('"type":"stats"'))!)
    hhRun = stats.run_id
    expect(stats).toMatchObject({ format: 'hh', pairs: 2, skipped: 6, turns: { 1: 1, 2: 1 } })
    expect(stats.chars.chosen.max).toBe('Mix them, knead for ten minutes, let it rise, then bake at 230C.'.length)
    expect(stdout).toContain('"type":"summary"')
    const store = Store.open(home)
    const run = store.getRun(hhRun)
    expect([run.stage, run.status, run.name]).toEqual(['preferences', 'finished', 'hh small'])
    const [artifact] = store.listArtifacts(hhRun, { kind: 'preferences' })
    const file = store.absolutePath(artifact.path)
    expect(artifact.sha256).toBe(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'))
    expect(file.startsWith(path.join(home, 'runs', hhRun))).toBe(true)
    store.close()
  }, 120_000)

  it('stops at the first bad line without --skip-invalid, naming file and line', async () => {
    const file = path.join(fixtures, 'hh-malformed.jsonl')
    const { code, stderr } = await cli(['prefs', 'import', file])
    expect(code).toBe(1)
    expect(stderr).toContain(`${file}:2: field "rejected"`)
  }, 120_000)

  it('refuses a bad --format and a missing file before starting a run', async () => {
    expect((await cli(['prefs', 'import', path.join(fixtures, 'hh.jsonl'), '--format', 'csv'])).code).toBe(2)
    const missing = await cli(['prefs', 'import', '/nonexistent.jsonl'])
    expect([missing.code, missing.stderr]).toEqual([2, 'error: prefs import: /nonexistent.jsonl: no such file or folder'])
  })

  it('exports imported and annotated datasets, and lists both', async () => {
    // An annotated session, written as the app does.
    const store = Store.open(home)
    const sessionId = createAnnotationSession(store, {
      name: 'my session',
      config: { sources: [{ checkpoint: '/ck/a', temperature: 0.7, label: 'A model' }, { checkpoint: '/ck/b', temperature: 0.7, label: 'B model' }], maxTokens: 32, promptSource: 'typed' },
      prompts: [[{ role: 'user', content: 'Hi?' }]],
    })
    const item = addItem(store, sessionId, { position: 0, messages: [{ role: 'user', content: 'Hi?' }], answerA: 'Hello!', answerB: 'Go away.', sourceA: 1 })
    saveJudgement(store, sessionId, { itemId: item.id, annotator: 'ann', choice: 'a', rating: 'better', safety: 'both_safe' })
    store.close()

    const outTrl = path.join(home, 'hh-trl.jsonl')
    expect((await cli(['prefs', 'export', hhRun, '--format', 'trl', '--out', outTrl])).stdout).toBe(`wrote 2 pairs (trl format) to ${outTrl}`)
    const trl = await readPreferenceList(outTrl)
    expect(trl.format).toBe('trl')
    expect(trl.list[1].messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user'])

    const outWb = path.join(home, 'session.jsonl')
    expect((await cli(['prefs', 'export', sessionId, '--out', outWb])).code).toBe(0)
    const { list } = await readPreferenceList(outWb)
    expect(list).toHaveLength(1)
    // Answer A came from source 1 ("B model"), hidden while judging and recorded here.
    expect(list[0]).toMatchObject({ chosen: 'Hello!', rejected: 'Go away.', rating: 'better', safety: 'both_safe', extra: { annotator: 'ann', chosen_source: 'B model', rejected_source: 'A model' } })

    const listed = await cli(['prefs', 'list'])
    expect(listed.stdout).toMatch(/hh small\s+imported\s+finished\s+2/)
    expect(listed.stdout).toMatch(/my session\s+annotated\s+running\s+1/)
    const notDataset = await cli(['prefs', 'export', 'nope', '--out', outWb])
    expect(notDataset.stderr).toBe('error: unknown run "nope"')
  }, 120_000)
})
