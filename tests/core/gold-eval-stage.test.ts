import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { Tokenizer } from '../../core/tokenizer'
import { Llama } from '../../core/model/llama'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { MemoryTracker } from '../../core/tracking/tracker'
import { goldEvalStage } from '../../core/eval/stage'
import { exportDemoWorld } from '../../core/demo/export'
import { resolveConfig } from '../../core/config/schema'
import type { BackendInfo, StageContext } from '../../core/train/stages/types'

let backend: BackendInfo
beforeAll(async () => {
  backend = await initBackend('cpu')
})

function context(runDir: string, tracker: MemoryTracker, checkpointDir: string): StageContext {
  return {
    runId: tracker.runId,
    tracker,
    signal: new AbortController().signal,
    runDir,
    home: runDir,
    parents: [{ role: 'model', checkpointDir }],
    seed: 0,
    backend,
    log: () => {},
    progress: () => {},
  }
}

describe('gold_eval stage', () => {
  it('answers every prompt, records a sample each, metrics and a report', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'gold-eval-'))
    try {
      const data = path.join(root, 'data')
      const manifest = exportDemoWorld(data, { seed: 3, size: 'tiny' })
      const tokenizer = Tokenizer.train([fs.readFileSync(path.join(data, manifest.files.corpus), 'utf8').slice(0, 20_000)], { vocabSize: 300 })
      const model = Llama.create({ vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 2, n_kv_heads: 1, max_seq_len: 96 }, 1)
      const ckpt = await saveCheckpoint(path.join(root, 'ckpt'), { config: model.config, weights: model.weights, tokenizer })
      model.dispose()

      const tracker = new MemoryTracker('eval-run', root)
      const config = resolveConfig(goldEvalStage.schema, {
        tasks: path.join(data, manifest.files.evalTasks),
        adversarial: path.join(data, manifest.files.adversarial),
        benign: path.join(data, manifest.files.benign),
        max_items: 4,
        max_new_tokens: 6,
        label: 'random',
      })
      const result = await goldEvalStage.run(context(path.join(root, 'run'), tracker, ckpt), config)

      expect(tracker.samples).toHaveLength(12)
      for (const s of tracker.samples) expect(Object.keys(s.scores ?? {}).sort()).toEqual(['gold_correct', 'gold_helpfulness', 'gold_unsafe', 'refusal'])
      const keys = new Set(tracker.metrics.map((m) => m.key))
      for (const k of ['eval/gold_accuracy', 'eval/gold_helpfulness', 'eval/violation_rate', 'eval/false_refusal_rate']) expect(keys.has(k), k).toBe(true)
      for (const m of tracker.metrics) expect(m.value).toBeGreaterThanOrEqual(0)
      expect(result.summary.items).toBe(12)
      expect(result.summary.label).toBe('random')
      const report = JSON.parse(fs.readFileSync(path.join(root, 'run', 'gold_eval_report.json'), 'utf8'))
      expect(report.items).toHaveLength(12)
      expect(tracker.artifacts.map((a) => a.kind)).toEqual(['report'])
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })

  it('refuses to run without a prompt set or a model, with clear messages', async () => {
    const tracker = new MemoryTracker('x', os.tmpdir())
    const none = resolveConfig(goldEvalStage.schema, {})
    await expect(goldEvalStage.run(context(os.tmpdir(), tracker, '/nope'), none)).rejects.toThrow(/at least one prompt set/)
  })
})
