// Issue 17: every path-like config field is declared, and the API's path policy applies to all
// of them and to parent folders, without telling whether anything outside the home exists.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkRunPaths, pathKindOf, type PathPolicy } from '../../electron/server/pathPolicy'
import { createServices, type Services } from '../../electron/server/services'
import { dispatch } from '../../electron/shared/api'
import { getStage, listStages } from '../../core/train/stages/registry'

let home: string
let services: Services
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<unknown>

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'wb-paths-'))
  mkdirSync(join(home, 'datasets'))
  writeFileSync(join(home, 'datasets', 'a.txt'), 'hello world')
  symlinkSync('/etc', join(home, 'datasets', 'etc-link'))
  services = createServices({ home, emit: () => {}, mode: 'web', backend: 'cpu' })
})
afterAll(async () => {
  await services.close()
  rmSync(home, { recursive: true, force: true })
})

const policy = (): PathPolicy => ({ home, readRoots: [], picked: new Set(['/tmp/picked.txt']), isRecordedRun: (ref) => ref === 'run-1' })

describe('declared path fields', () => {
  it('every text field whose help speaks of files, folders or checkpoints is declared as a path', () => {
    const text = new Set(['string', 'string[]', 'path'])
    const undeclared = listStages().flatMap((s) =>
      s.fields.filter((f) => text.has(f.type) && /\b(files?|folders?|checkpoints?|paths?|tokenizer\.json|jsonl)\b/i.test(f.help) && pathKindOf(f) === null).map((f) => `${s.name}.${f.key}`),
    )
    expect(undeclared).toEqual([])
  })

  it('marks the model references as checkpoints', () => {
    const kind = (stage: string, key: string) => pathKindOf(getStage(stage).fields.find((f) => f.key === key)!)
    expect([kind('sft', 'base'), kind('pretrain', 'init_from'), kind('gold_eval', 'model')]).toEqual(['model', 'model', 'model'])
    expect(kind('tokenizer', 'out')).toBe('output')
  })
})

describe('checkRunPaths', () => {
  const sft = getStage('sft').fields
  it('accepts files in the home, picked files, and recorded run ids', () => {
    expect(() => checkRunPaths(sft, { data: [join(home, 'datasets', 'a.txt'), '/tmp/picked.txt'], base: 'run-1' }, [], policy())).not.toThrow()
  })
  it('refuses folders and files outside the home with one message whether they exist or not', () => {
    const messages = ['/etc/passwd', '/etc', '/no/such/place'].map((p) => {
      try {
        checkRunPaths(sft, { data: [join(home, 'datasets', 'a.txt')], base: p }, [], policy())
        return 'accepted'
      } catch (error) {
        return (error as Error).message.replace(p, '<p>')
      }
    })
    expect(messages[0]).toMatch(/^base: <p> is outside the workbench home/)
    expect(new Set(messages).size).toBe(1)
  })
  it('refuses a symlink in the home that leads out, relative paths, unknown run ids, and parent folders outside', () => {
    expect(() => checkRunPaths(sft, { data: [join(home, 'datasets', 'etc-link', 'passwd')] }, [], policy())).toThrow(/data: .* is outside the workbench home/)
    expect(() => checkRunPaths(sft, { data: ['../etc/passwd'] }, [], policy())).toThrow(/not an absolute path/)
    expect(() => checkRunPaths(sft, { base: 'nope' }, [], policy())).toThrow(/base: "nope" is not the id of a recorded run/)
    expect(() => checkRunPaths(sft, {}, [{ role: 'base', checkpointDir: '/etc' }], policy())).toThrow(/parent base: \/etc is outside/)
  })
  it('lets a run write only inside the home', () => {
    const tok = getStage('tokenizer').fields
    expect(() => checkRunPaths(tok, { out: '/tmp/picked.txt' }, [], policy())).toThrow(/runs write only inside it/)
    expect(() => checkRunPaths(tok, { out: join(home, 'tok.json') }, [], policy())).not.toThrow()
  })
})

describe('the API', () => {
  const data = () => [join(home, 'datasets', 'a.txt')]
  const cases: [string, () => unknown][] = [
    ['sft base', () => ({ stage: 'sft', config: { data: data(), base: '/etc/passwd' } })],
    ['pretrain init_from', () => ({ stage: 'pretrain', config: { data: data(), init_from: '/etc' } })],
    ['gold_eval model', () => ({ stage: 'gold_eval', config: { model: '/etc' } })],
    ['a parent folder', () => ({ stage: 'sft', config: { data: data() }, parents: [{ role: 'base', checkpointDir: '/etc' }] })],
  ]
  it.each(cases)('refuses %s outside the home before touching it', async (_what, args) => {
    await expect(call('runs:create', args())).rejects.toThrow(/is outside the workbench home/)
  })
  it('refuses a chat checkpoint outside the home without saying whether it exists', async () => {
    const ask = (checkpoint: string) => call('chat:generate', { requestId: 'r1', checkpoint, messages: [{ role: 'user', content: 'hi' }] })
    await expect(ask('/etc')).rejects.toThrow(/checkpoint: \/etc is outside the workbench home/)
    await expect(ask('/no/such')).rejects.toThrow(/checkpoint: \/no\/such is outside the workbench home/)
  })
})
