// An annotation session killed mid-way (SIGKILL, as when the app is killed) keeps every judgement
// the services acknowledged: the writer is a real process running the real services.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { initBackend } from '../../core/backend'
import { Tokenizer } from '../../core/tokenizer'
import { Llama } from '../../core/model/llama'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Store } from '../../core/tracking/store'
import { annotationSummary } from '../../core/tracking/annotations'
import { loadPreferenceDataset } from '../../core/data/preferences/dataset'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const ANNOTATOR = fileURLToPath(new URL('../fixtures/annotations/annotator.ts', import.meta.url))

describe('annotation crash safety', () => {
  it('keeps every acknowledged judgement when the annotating process is killed', async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-annotate-crash-'))
    await initBackend('cpu')
    const tokenizer = Tokenizer.train(['prompt answers and more words for the tiny model '.repeat(10)], { vocabSize: 280 })
    const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 2, n_kv_heads: 1, max_seq_len: 32 }, 1)
    const checkpoint = await saveCheckpoint(path.join(home, 'models', 'tiny'), { config: model.config, weights: model.weights, tokenizer })
    model.dispose()

    const child = spawn(process.execPath, ['--import', 'tsx', ANNOTATOR, home, checkpoint], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
    let session = ''
    const acknowledged: number[] = []
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const exited = new Promise<string | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)))
    let buffered = ''
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop()!
      for (const line of lines) {
        if (line.startsWith('session ')) session = line.slice(8)
        if (line.startsWith('judged ')) acknowledged.push(Number(line.slice(7)))
        // Kill it mid-session, while it is generating or judging the next pair.
        if (acknowledged.length === 5 && child.exitCode === null) child.kill('SIGKILL')
      }
    })
    const signal = await exited
    expect(signal, stderr).toBe('SIGKILL')
    expect(acknowledged.length).toBeGreaterThanOrEqual(5)

    const store = Store.open(home)
    try {
      const summary = annotationSummary(store, session)
      // Every acknowledged judgement is there; at most the pair on screen was lost.
      expect(summary.judgements).toBeGreaterThanOrEqual(acknowledged.length)
      expect(summary.judgements).toBeLessThanOrEqual(acknowledged.length + 1)
      const judgedItems = store.db.prepare("SELECT item_id FROM preference_judgements WHERE run_id = ?").pluck(true).all(session) as number[]
      for (const itemId of acknowledged) expect(judgedItems).toContain(itemId)
      expect(store.getRunRecord(session).status).toBe('interrupted')
      expect((await loadPreferenceDataset(store, session)).length).toBe(summary.judgements)
    } finally {
      store.close()
      fs.rmSync(home, { recursive: true, force: true })
    }
  }, 120_000)
})
