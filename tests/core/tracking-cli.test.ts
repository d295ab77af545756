import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runRunsCommand } from '../../core/cli/runs'
import { bufferIO } from '../../core/cli/io'
import { UsageError } from '../../core/cli/args'
import { Store } from '../../core/tracking/store'
import { formatDuration, formatNumber, formatTable } from '../../core/tracking/format'

let home: string
let ids: { base: string; sft: string }

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-cli-'))
  const store = Store.open(home)
  const base = store.createRun({ stage: 'pretrain', name: 'base', config: { dim: 32, lr: 0.001 }, seed: 1 })
  const sft = store.createRun({ stage: 'sft', name: 'chat', config: { dim: 32, lr: 0.0003 }, parents: [{ runId: base.id, role: 'base' }] })
  store.recordBatch(base.id, { metrics: [{ step: 0, key: 'train/loss', value: 3.25, wallTime: 1 }, { step: 1, key: 'train/loss', value: 2.5, wallTime: 2 }] })
  store.recordBatch(sft.id, { metrics: [{ step: 0, key: 'train/loss', value: NaN, wallTime: 1 }] })
  store.close()
  ids = { base: base.id, sft: sft.id }
})
afterEach(() => fs.rmSync(home, { recursive: true, force: true }))

async function run(...argv: string[]) {
  const io = bufferIO()
  const code = await runRunsCommand([...argv, '--home', home], io)
  return { code, text: io.stdout.join('\n') }
}

describe('workbench runs', () => {
  it('list prints a table with latest metrics, and JSON with --json', async () => {
    const { code, text } = await run('list')
    expect(code).toBe(0)
    const lines = text.split('\n')
    expect(lines[0]).toMatch(/^ID\s+NAME\s+STAGE\s+STATUS\s+CREATED\s+DURATION\s+train\/loss$/)
    expect(lines[1]).toMatch(new RegExp(`^${ids.sft}\\s+chat\\s+sft\\s+queued .* NaN$`))
    expect(lines[2]).toMatch(/base\s+pretrain\s+queued .* 2\.5$/)
    const json = JSON.parse((await run('list', '--json', '--stage', 'pretrain')).text)
    expect(json.map((r: { id: string }) => r.id)).toEqual([ids.base])
    expect(JSON.parse((await run('list', '--json', '--stage', 'sft')).text)[0].metrics['train/loss']).toBe('NaN')
    await expect(run('list', '--status', 'bogus')).rejects.toThrow(UsageError)
    await expect(run('list', '--limit', 'x')).rejects.toThrow(/--limit must be a whole number/)
  })

  it('show describes one run (by unique id prefix too)', async () => {
    const { text } = await run('show', ids.sft)
    expect(text).toContain(`chat  (${ids.sft})`)
    expect(text).toMatch(new RegExp(`parent\\s+base: ${ids.base} \\(pretrain "base", queued\\)`))
    expect(text).toMatch(/lr\s+0\.0003/)
    const byPrefix = await run('show', ids.base.slice(0, 11), '--json')
    expect(JSON.parse(byPrefix.text).children[0].runId).toBe(ids.sft)
    await expect(run('show', 'zzzz')).rejects.toThrow(/unknown run "zzzz"/)
  })

  it('show gives the progress and the events the run\'s process recorded, whoever launched it', async () => {
    const store = Store.open(home)
    store.recordProgress(ids.base, { step: 5, totalSteps: 20, loss: 2.5, etaSeconds: 80 })
    store.addEvent(ids.base, { kind: 'cancel', message: 'cancel requested (SIGTERM): saving a checkpoint and stopping', step: 5 })
    store.close()
    const { text } = await run('show', ids.base)
    // Queued, not running: the ETA is shown as recorded, not counted down.
    expect(text).toMatch(/progress\s+\[#+\.+\]\s+25% step 5\/20 loss 2\.5000 ETA 1m20s/)
    expect(text).toMatch(/Events:\n.*cancel\s+step 5\s+cancel requested \(SIGTERM\)/)
    expect((await run('show', ids.sft)).text).not.toMatch(/progress|Events:/)
  })

  it('compare lists only differing config keys and final/best metrics', async () => {
    const { text } = await run('compare', ids.base, ids.sft)
    expect(text).toMatch(/lr\s+0\.001\s+0\.0003/)
    expect(text).not.toMatch(/^\s+dim\s/m)
    expect(text).toMatch(/train\/loss \(min\)\s+2\.5 \/ 2\.5\s+NaN \/ -/)
    await expect(run('compare', ids.base)).rejects.toThrow(/at least two/)
  })

  it('export writes CSV or JSON to a file or stdout', async () => {
    const out = path.join(home, 'export.csv')
    const { text } = await run('export', ids.base, ids.sft, '--format', 'csv', '--out', out)
    expect(text).toContain('Exported 2 run(s)')
    const csv = fs.readFileSync(out, 'utf8')
    expect(csv).toContain(`${ids.base},base,pretrain,metric,train/loss,1,2.5,2,`)
    expect(csv).toContain(`${ids.sft},chat,sft,metric,train/loss,0,NaN,1,`)
    const json = JSON.parse((await run('export', ids.base)).text)
    expect(json.runs[0].history['train/loss']).toHaveLength(2)
    await expect(run('export', ids.base, '--format', 'xml')).rejects.toThrow(/json or csv/)
  })

  it('tag, note and delete (refusing a parent without --force)', async () => {
    expect((await run('tag', ids.sft, 'good=yes', 'keep')).text).toBe(`Tags of ${ids.sft}: good=yes, keep`)
    expect((await run('tag', ids.sft, '--remove', 'keep')).text).toBe(`Tags of ${ids.sft}: good=yes`)
    await run('note', ids.sft, 'lr', 'too', 'low')
    expect(JSON.parse((await run('show', ids.sft, '--json')).text)).toMatchObject({ notes: 'lr too low', tags: { good: 'yes' } })
    await expect(run('delete', ids.base)).rejects.toThrow(new RegExp(`descending from it: ${ids.sft}`))
    expect((await run('delete', ids.base, '--force')).text).toMatch(new RegExp(`^Deleted run ${ids.base}`))
    expect(JSON.parse((await run('list', '--json')).text).map((r: { id: string }) => r.id)).toEqual([ids.sft])
  })

  it('usage and unknown subcommands', async () => {
    const io = bufferIO()
    expect(await runRunsCommand([], io)).toBe(2)
    expect(io.stdout[0]).toMatch(/^Usage: workbench runs/)
    await expect(runRunsCommand(['frobnicate'], io)).rejects.toThrow(/unknown subcommand "frobnicate"/)
    await expect(run('list', '--bogus')).rejects.toThrow(UsageError)
  })

  it('also accepts the plain { home, stdout, json } io', async () => {
    const lines: string[] = []
    expect(await runRunsCommand(['list'], { home, stdout: (s) => lines.push(s), json: true })).toBe(0)
    expect(JSON.parse(lines[0])).toHaveLength(2)
  })
})

describe('formatting', () => {
  it('formats numbers, durations and tables', () => {
    expect([formatNumber(2.5), formatNumber(0.000123), formatNumber(1234.5678), formatNumber(NaN), formatNumber(-Infinity), formatNumber(null)]).toEqual([
      '2.5',
      '1.230e-4',
      '1235',
      'NaN',
      '-inf',
      '-',
    ])
    expect([formatDuration(45_000), formatDuration(723_000), formatDuration(11_220_000)]).toEqual(['45s', '12m 03s', '3h 07m'])
    expect(formatTable(['A', 'BB'], [['xyz', '1']])).toBe('A    BB\nxyz  1')
  })
})
