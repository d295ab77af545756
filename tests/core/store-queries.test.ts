import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RunHasChildrenError, Store } from '../../core/tracking/store'
import { SqliteTracker } from '../../core/tracking/tracker'
import { runDir } from '../../core/tracking/home'

let home: string
let store: Store

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-store-'))
  store = Store.open(home)
})
afterEach(() => {
  store.close()
  fs.rmSync(home, { recursive: true, force: true })
})

function logged(runId: string, points: Record<string, number>[], firstStep = 0) {
  const tracker = new SqliteTracker(store, runId)
  points.forEach((values, i) => tracker.logMetrics(firstStep + i, values))
  tracker.close()
}

describe('runs: create, status transitions, list', () => {
  it('creates a queued run with a sortable id and a default name', () => {
    const a = store.createRun({ stage: 'pretrain', config: { dim: 32 }, seed: 7 })
    const b = store.createRun({ stage: 'pretrain', config: { dim: 64 } })
    expect(a.status).toBe('queued')
    expect(a.experiment).toBe('default')
    expect(a.seed).toBe(7)
    expect(a.id).toMatch(/^[0-9a-z]{12}$/)
    expect(a.id).not.toBe(b.id)
    expect(a.id.slice(0, 8) <= b.id.slice(0, 8)).toBe(true)
    expect(a.name).toBe(`pretrain-${a.id.slice(-4)}`)
    expect(store.getRunRecord(a.id).config).toEqual({ dim: 32 })
  })

  it('follows queued -> running -> finished and refuses illegal transitions', () => {
    const run = store.createRun({ stage: 'sft', config: {} })
    expect(() => store.markInterrupted(run.id)).toThrow(/is queued; it cannot become interrupted/)
    const started = store.startRun(run.id, { pid: process.pid, hostname: os.hostname(), backend: { name: 'cpu' } })
    expect(started.status).toBe('running')
    expect(started.backend).toEqual({ name: 'cpu' })
    expect(started.startedAt).not.toBeNull()
    expect(store.heartbeat(run.id)).toBe(true)
    expect(() => store.startRun(run.id, { pid: 1, hostname: 'x' })).toThrow(/is running; it cannot become running/)
    const done = store.finishRun(run.id, 'failed', 'out of memory')
    expect(done.status).toBe('failed')
    expect(done.error).toBe('out of memory')
    expect(done.endedAt).not.toBeNull()
    expect(store.heartbeat(run.id)).toBe(false)
    // A failed run may be resumed; a finished one may not start again.
    store.startRun(run.id, { pid: process.pid, hostname: os.hostname() })
    store.finishRun(run.id, 'finished')
    expect(() => store.startRun(run.id, { pid: process.pid, hostname: os.hostname() })).toThrow(/is finished/)
    expect(() => store.finishRun('nope', 'finished')).toThrow(/unknown run "nope"/)
  })

  it('rejects a parent that does not exist and statuses outside the CHECK', () => {
    expect(() => store.createRun({ stage: 'sft', config: {}, parents: [{ runId: 'ghost', role: 'base' }] })).toThrow(
      /parent run "ghost"/,
    )
    const run = store.createRun({ stage: 'sft', config: {} })
    expect(() => store.db.prepare("UPDATE runs SET status = 'paused' WHERE id = ?").run(run.id)).toThrow(/CHECK/)
  })

  it('lists with filters on stage, status, tag, experiment and text, sorted, with latest metrics', () => {
    const a = store.createRun({ stage: 'pretrain', name: 'tiny base', config: {} })
    const b = store.createRun({ stage: 'sft', name: 'chat tune', config: {}, experiment: 'chat' })
    const c = store.createRun({ stage: 'sft', name: 'other', config: {} })
    store.setTag(b.id, 'good', 'yes')
    store.setNotes(c.id, 'Learning rate 100% too high')
    store.startRun(a.id, { pid: process.pid, hostname: os.hostname() })
    logged(a.id, [{ 'eval/loss': 3 }, { 'eval/loss': 2.5 }])
    logged(b.id, [{ 'eval/loss': 2 }])
    logged(c.id, [{ 'eval/loss': NaN }])

    expect(store.listRuns({ stage: 'sft' }).map((r) => r.id).sort()).toEqual([b.id, c.id].sort())
    expect(store.listRuns({ status: 'running' }).map((r) => r.id)).toEqual([a.id])
    expect(store.listRuns({ tag: 'good' }).map((r) => r.id)).toEqual([b.id])
    expect(store.listRuns({ tag: 'good=no' })).toEqual([])
    expect(store.listRuns({ experiment: 'chat' }).map((r) => r.id)).toEqual([b.id])
    expect(store.listRuns({ text: 'TINY' }).map((r) => r.id)).toEqual([a.id])
    expect(store.listRuns({ text: '100%' }).map((r) => r.id)).toEqual([c.id])
    expect(store.listRuns({ text: '0%' }).map((r) => r.id)).toEqual([c.id]) // % is literal, not a wildcard
    expect(store.listRuns({ text: 'yes' }).map((r) => r.id)).toEqual([b.id]) // tag values match too

    const byLoss = store.listRuns({ sort: 'metric:eval/loss', order: 'asc' })
    expect(byLoss.map((r) => r.id)).toEqual([b.id, a.id, c.id]) // NaN last
    expect(byLoss[1].metrics['eval/loss']).toBe(2.5)
    expect(Number.isNaN(byLoss[2].metrics['eval/loss'])).toBe(true)
    expect(store.listRuns({ sort: 'name', order: 'asc', limit: 2 }).map((r) => r.name)).toEqual(['chat tune', 'other'])
    expect(store.listRuns()[0].id).toBe(c.id) // newest first by default
    expect(() => store.listRuns({ sort: 'id; DROP TABLE runs' })).toThrow(/cannot sort runs/)
  })

  it('getRun returns params, tags, parents and children; setRunName renames', () => {
    const base = store.createRun({ stage: 'pretrain', config: {} })
    const rm = store.createRun({ stage: 'reward', config: {}, parents: [{ runId: base.id, role: 'base' }] })
    const sft = store.createRun({ stage: 'sft', config: {}, parents: [{ runId: base.id, role: 'base' }] })
    store.logParams(sft.id, { n_params: 12345, packed: true, note: 'x' })
    store.setTag(sft.id, 'keep')
    store.setRunName(sft.id, 'renamed')
    const details = store.getRun(sft.id)
    expect(details.name).toBe('renamed')
    expect(details.params).toEqual({ n_params: 12345, packed: true, note: 'x' })
    expect(details.tags).toEqual({ keep: '' })
    expect(details.parents).toEqual([{ runId: base.id, role: 'base', name: base.name, stage: 'pretrain', status: 'queued', exists: true }])
    expect(store.getRun(base.id).children.map((c) => c.runId).sort()).toEqual([rm.id, sft.id].sort())
    expect(store.removeTag(sft.id, 'keep')).toBe(true)
    expect(store.resolveRunId(sft.id.slice(0, 11) + sft.id.slice(11))).toBe(sft.id)
    expect(() => store.getRun('missing')).toThrow(/unknown run "missing"/)
  })

  it('experiments: create, refuse duplicates, get-or-create', () => {
    const e = store.createExperiment('ablations', 'lr sweeps')
    expect(e.description).toBe('lr sweeps')
    expect(() => store.createExperiment('ablations')).toThrow(/already exists/)
    expect(store.getOrCreateExperiment('ablations').id).toBe(e.id)
    expect(store.listExperiments().map((x) => x.name)).toEqual(['ablations', 'default'])
  })
})

describe('compare and lineage', () => {
  it('compares config differences (dotted keys) and final/best metrics', () => {
    const a = store.createRun({ stage: 'sft', config: { model: { dim: 32, layers: 2 }, lr: 1e-3, data: ['a'] } })
    const b = store.createRun({ stage: 'sft', config: { model: { dim: 64, layers: 2 }, lr: 1e-3, data: ['a', 'b'], extra: 1 } })
    logged(a.id, [{ 'train/loss': 3, 'eval/accuracy': 0.1 }, { 'train/loss': 1, 'eval/accuracy': 0.5 }, { 'train/loss': 2, 'eval/accuracy': 0.4 }])
    logged(b.id, [{ 'train/loss': Infinity, 'train/lr': 1 }, { 'train/loss': 4, 'train/lr': 2 }])
    const cmp = store.compareRuns([a.id, b.id])
    expect(cmp.configDiff).toEqual([
      { key: 'data', values: [['a'], ['a', 'b']] },
      { key: 'extra', values: [undefined, 1] },
      { key: 'model.dim', values: [32, 64] },
    ])
    const loss = cmp.metrics.find((m) => m.key === 'train/loss')!
    expect(loss).toEqual({ key: 'train/loss', better: 'min', final: [2, 4], best: [1, 4], bestStep: [1, 1] })
    const acc = cmp.metrics.find((m) => m.key === 'eval/accuracy')!
    expect(acc.better).toBe('max')
    expect(acc.best).toEqual([0.5, null])
    expect(acc.final).toEqual([0.4, null])
    const lr = cmp.metrics.find((m) => m.key === 'train/lr')!
    expect(lr.better).toBeNull()
    expect(lr.best).toEqual([null, null])
  })

  it('walks ancestors and descendants over several generations (RLHF with two reward models)', () => {
    const pre = store.createRun({ stage: 'pretrain', config: {} })
    const sft = store.createRun({ stage: 'sft', config: {}, parents: [{ runId: pre.id, role: 'base' }] })
    const rmH = store.createRun({ stage: 'reward', config: {}, parents: [{ runId: sft.id, role: 'base' }] })
    const rmS = store.createRun({ stage: 'reward', config: {}, parents: [{ runId: sft.id, role: 'base' }] })
    const ppo = store.createRun({
      stage: 'ppo',
      config: {},
      parents: [
        { runId: sft.id, role: 'base' },
        { runId: rmH.id, role: 'reward_helpful' },
        { runId: rmS.id, role: 'reward_safety' },
      ],
    })
    const up = store.lineage(ppo.id)
    expect(up.descendants).toEqual([])
    expect(up.ancestors.map((n) => [n.runId, n.depth])).toEqual(
      [[sft.id, 1], [rmH.id, 1], [rmS.id, 1], [pre.id, 2]].sort((x, y) => (x[1] as number) - (y[1] as number) || String(x[0]).localeCompare(String(y[0]))),
    )
    expect(up.edges).toContainEqual({ child: ppo.id, parent: rmS.id, role: 'reward_safety' })
    expect(up.edges).toHaveLength(6)
    const down = store.lineage(pre.id)
    expect(down.ancestors).toEqual([])
    expect(new Set(down.descendants.map((n) => n.runId))).toEqual(new Set([sft.id, rmH.id, rmS.id, ppo.id]))
    expect(down.descendants.find((n) => n.runId === ppo.id)!.depth).toBe(2)
  })
})

describe('events, samples, artifacts, delete, export', () => {
  it('records events and samples and lists them', () => {
    const run = store.createRun({ stage: 'ppo', config: {} })
    const tracker = new SqliteTracker(store, run.id)
    tracker.logEvent('spike', 'loss jumped', { ratio: 4.2 }, 17)
    tracker.logEvent('warning', 'slow step')
    tracker.logSample({ step: 10, prompt: 'Hi', response: 'Hello', scores: { reward: 1.5 } })
    tracker.logSample({ step: 20, prompt: 'Q', response: 'A' })
    tracker.close()
    const events = store.listEvents(run.id)
    expect(events.map((e) => [e.kind, e.message, e.step, e.data])).toEqual([
      ['spike', 'loss jumped', 17, { ratio: 4.2 }],
      ['warning', 'slow step', null, null],
    ])
    expect(store.listEvents(run.id, { kind: 'spike' })).toHaveLength(1)
    expect(store.listEvents(run.id, { afterId: events[0].id }).map((e) => e.kind)).toEqual(['warning'])
    expect(store.listSamples(run.id).map((s) => [s.step, s.scores])).toEqual([[10, { reward: 1.5 }], [20, {}]])
    expect(store.listSamples(run.id, { step: 20 })[0].response).toBe('A')
  })

  it('deleteRun removes rows and files, refuses while running and warns about children', () => {
    const parent = store.createRun({ stage: 'pretrain', config: {} })
    const child = store.createRun({ stage: 'sft', config: {}, parents: [{ runId: parent.id, role: 'base' }] })
    const dir = runDir(home, parent.id)
    fs.mkdirSync(path.join(dir, 'ckpt'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'ckpt', 'model.safetensors'), 'weights')
    const outside = path.join(home, '..', `${path.basename(home)}-outside.txt`)
    fs.writeFileSync(outside, 'user file')
    const tracker = new SqliteTracker(store, parent.id)
    tracker.logArtifact({ kind: 'checkpoint', path: path.join(dir, 'ckpt'), step: 5 })
    tracker.logArtifact({ kind: 'dataset', path: outside })
    logged(parent.id, [{ 'train/loss': 1 }])
    tracker.close()
    // The child points at its parent's checkpoint too.
    store.addArtifact(child.id, { kind: 'checkpoint', path: `runs/${parent.id}/ckpt` })

    store.startRun(parent.id, { pid: process.pid, hostname: os.hostname() })
    expect(() => store.deleteRun(parent.id)).toThrow(/is running/)
    store.finishRun(parent.id, 'finished')
    expect(() => store.deleteRun(parent.id)).toThrow(RunHasChildrenError)
    expect(() => store.deleteRun(parent.id)).toThrow(new RegExp(child.id))

    const result = store.deleteRun(parent.id, { force: true })
    expect(result.deletedPaths).toContain(dir)
    expect(fs.existsSync(dir)).toBe(false)
    expect(fs.readFileSync(outside, 'utf8')).toBe('user file') // outside the home: never deleted
    fs.rmSync(outside)
    for (const table of ['runs', 'metrics', 'latest_metrics', 'artifacts', 'tags', 'params', 'events', 'samples']) {
      const column = table === 'runs' ? 'id' : 'run_id'
      expect(store.db.prepare(`SELECT count(*) FROM ${table} WHERE ${column} = ?`).pluck().get(parent.id)).toBe(0)
    }
    // The child keeps a record of its deleted parent.
    expect(store.getRun(child.id).parents).toEqual([{ runId: parent.id, role: 'base', exists: false }])
    expect(store.lineage(child.id).ancestors).toEqual([{ runId: parent.id, depth: 1, exists: false }])
  })

  it('exports config, metrics (NaN/Inf kept) and artifacts to JSON and CSV', () => {
    const run = store.createRun({ stage: 'sft', name: 'a, "quoted" name', config: { model: { dim: 32 }, files: ['x'] }, seed: 3 })
    store.setTag(run.id, 'k', 'v')
    logged(run.id, [{ 'train/loss': 2 }, { 'train/loss': NaN }, { 'train/loss': -Infinity }])
    fs.writeFileSync(path.join(home, 'report.md'), '# report')
    store.addArtifact(run.id, { kind: 'report', path: 'report.md' })

    const json = JSON.parse(store.exportRuns([run.id], 'json'))
    expect(json.runs).toHaveLength(1)
    const r = json.runs[0]
    expect(r.config).toEqual({ model: { dim: 32 }, files: ['x'] })
    expect(r.history['train/loss'].map((p: { value: unknown }) => p.value)).toEqual([2, 'NaN', '-Infinity'])
    expect(r.metrics['train/loss']).toBe('-Infinity')
    expect(r.artifacts[0]).toMatchObject({ kind: 'report', path: 'report.md', bytes: 8 })
    expect(r.tags).toEqual({ k: 'v' })

    const csv = store.exportRuns([run.id], 'csv')
    const lines = csv.trim().split('\n')
    expect(lines[0]).toBe('run_id,run_name,stage,record,key,step,value,wall_time,detail')
    expect(csv).toContain(`${run.id},"a, ""quoted"" name",sft,config,model.dim,,32,,`)
    expect(csv).toContain(`config,files,,"[""x""]"`)
    const metricValues = lines.filter((l) => l.includes(',metric,train/loss,')).map((l) => l.split(',metric,train/loss,')[1].split(',')[1])
    expect(metricValues).toEqual(['2', 'NaN', '-Infinity'])
    expect(csv).toMatch(/,artifact,report,,report\.md,,/)
    expect(() => store.exportRuns([run.id], 'xml' as 'csv')).toThrow(/json or csv/)
  })
})
