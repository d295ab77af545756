// The leaderboard from recorded winrate runs and people's seven-point judgements (issue 14):
// judgements saved at once (migration 5), A's side hidden, re-rating replaces; every finished
// comparison feeds the Bradley-Terry table of `workbench leaderboard`.
import { describe, it, expect, beforeEach, afterEach } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { matchesFromStore } from '../../core/cli/leaderboard'
import { Store } from '../../core/tracking/store'
import { SqliteTracker } from '../../core/tracking/tracker'
import { blindPairs, humanWinrateFigures, listWinrateJudgements, saveWinrateJudgement } from '../../core/tracking/winrateJudgements'
import type { WinratePair } from '../../core/train/stages/winrate'

let home: string
let store: Store

beforeEach(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-board-'))
  store = Store.open(home)
})
afterEach(() => {
  store.close()
  fs.rmSync(home, { recursive: true, force: true })
})

function model(name: string): string {
  return store.createRun({ stage: 'sft', config: {}, name }).id
}

function finished(id: string): void {
  store.startRun(id, { pid: process.pid, hostname: os.hostname() })
  store.finishRun(id, 'finished')
}

/** A machine-judged winrate run of a against b with these counts. */
function comparison(a: string, b: string, wins: number, ties: number, losses: number): string {
  const run = store.createRun({ stage: 'winrate', config: { model_a: a, model_b: b, judge: 'reward' }, parents: [{ runId: a, role: 'model_a' }, { runId: b, role: 'model_b' }] })
  const n = wins + ties + losses
  const t = new SqliteTracker(store, run.id)
  t.logMetrics(0, { 'winrate/win': wins / n, 'winrate/tie': ties / n, 'winrate/loss': losses / n, 'winrate/n': n })
  t.close()
  finished(run.id)
  return run.id
}

function humanRun(a: string, b: string, aFirst: boolean[]): string {
  const run = store.createRun({ stage: 'winrate', config: { model_a: a, model_b: b, judge: 'human' }, parents: [{ runId: a, role: 'model_a' }, { runId: b, role: 'model_b' }] })
  const pairs: WinratePair[] = aFirst.map((first, index) => ({
    index, id: `p${index}`, prompt: `Q${index}?`, messages: [{ role: 'user', content: `Q${index}?` }], answer_a: `from A ${index}`, answer_b: `from B ${index}`, tokens_a: 3, tokens_b: 5, a_first: first,
  }))
  const file = path.join(home, 'runs', run.id, 'winrate_pairs.jsonl')
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join('\n') + '\n')
  store.addArtifact(run.id, { kind: 'winrate_pairs', path: file })
  return run.id
}

describe('people\'s judgements', () => {
  it('shows answers as left and right only, saves each rating at once and replaces a re-rating', () => {
    const a = model('a')
    const b = model('b')
    const run = humanRun(a, b, [true, false])
    const shown = blindPairs(store, run, 'ann')
    expect(shown.map((p) => [p.left, p.right])).toEqual([['from A 0', 'from B 0'], ['from B 1', 'from A 1']])
    expect(JSON.stringify(shown)).not.toMatch(/a_first|answer_a/)

    saveWinrateJudgement(store, { runId: run, pairIndex: 0, annotator: 'ann', rating: 2 }) // left (A) better
    saveWinrateJudgement(store, { runId: run, pairIndex: 1, annotator: 'ann', rating: 3 }) // left (B) much better
    saveWinrateJudgement(store, { runId: run, pairIndex: 1, annotator: 'ann', rating: 0 }) // changed mind: a tie
    expect(listWinrateJudgements(store, run).map((j) => [j.pairIndex, j.rating, j.aOnLeft])).toEqual([[0, 2, true], [1, 0, false]])
    expect(blindPairs(store, run, 'ann').map((p) => p.rating)).toEqual([2, 0])
    expect(blindPairs(store, run, 'bob').map((p) => p.rating)).toEqual([null, null])
    const figures = humanWinrateFigures(store, run, { reps: 50 })!
    expect(figures.counts).toMatchObject({ wins: 1, ties: 1, losses: 0, n: 2 })

    // Saved by the time the call returns: another connection sees it.
    const other = Store.open(home)
    expect(listWinrateJudgements(other, run)).toHaveLength(2)
    other.close()
  })

  it('refuses a rating off the scale, a pair that does not exist, and a run that is not a winrate run', () => {
    const a = model('a')
    const run = humanRun(a, model('b'), [true])
    expect(() => saveWinrateJudgement(store, { runId: run, pairIndex: 0, annotator: 'ann', rating: 4 })).toThrow(/whole number from -3 to 3, got 4/)
    expect(() => saveWinrateJudgement(store, { runId: run, pairIndex: 7, annotator: 'ann', rating: 1 })).toThrow(/has no pair 7/)
    expect(() => blindPairs(store, a, 'ann')).toThrow(/is a sft run, not a winrate run/)
    expect(humanWinrateFigures(store, run)).toBeNull()
  })
})

describe('leaderboard', () => {
  it('ranks the models of every finished comparison, people\'s included', async () => {
    const [a, b, c] = [model('a'), model('b'), model('c')]
    comparison(a, b, 6, 2, 2)
    comparison(c, b, 3, 0, 5)
    const human = humanRun(a, c, [true, false, true])
    saveWinrateJudgement(store, { runId: human, pairIndex: 0, annotator: 'ann', rating: 3 }) // A left, A much better
    saveWinrateJudgement(store, { runId: human, pairIndex: 1, annotator: 'ann', rating: -1 }) // A right, right slightly better: A wins
    saveWinrateJudgement(store, { runId: human, pairIndex: 2, annotator: 'ann', rating: -2 }) // A left, right better: A loses
    expect(matchesFromStore(store)).toHaveLength(2) // the human run is not finished yet
    finished(human)
    comparison(a, a, 1, 0, 0) // a model against itself is left out
    const unfinished = store.createRun({ stage: 'winrate', config: { model_a: a, model_b: c, judge: 'reward' } })
    expect(unfinished.status).toBe('queued')

    const matches = matchesFromStore(store)
    expect(matches).toContainEqual({ a, b, wins: 6, ties: 2, losses: 2 })
    expect(matches).toContainEqual({ a: c, b, wins: 3, ties: 0, losses: 5 })
    expect(matches).toContainEqual({ a, b: c, wins: 2, ties: 0, losses: 1 })

    const io = bufferIO()
    expect(await runCli(['leaderboard', '--json', '--home', home, '--reps', '50'], io)).toBe(0)
    const rows = io.stdout.map((l) => JSON.parse(l))
    expect(rows.map((r) => r.model)).toEqual([a, b, c])
    expect(rows.map((r) => r.rank)).toEqual([1, 2, 3])
    for (const r of rows) expect(r.lo).toBeLessThanOrEqual(r.rating)

    const text = bufferIO()
    expect(await runCli(['leaderboard', '--home', home, '--reps', '20'], text)).toBe(0)
    expect(text.stdout[0]).toBe('3 comparison(s), 3 models')
  })

  it('says how to get results when there are none, and refuses a bad --reps', async () => {
    const io = bufferIO()
    expect(await runCli(['leaderboard', '--home', home], io)).toBe(0)
    expect(io.stdout[0]).toMatch(/no pairwise results yet/)
    const bad = bufferIO()
    expect(await runCli(['leaderboard', '--home', home, '--reps', 'x'], bad)).not.toBe(0)
    expect(bad.stderr.join('\n')).toMatch(/--reps must be a whole number/)
  })
})
