// `workbench rlhf` through runCli, with real job workers: two rejection-sampling rounds named
// RLHF-V1 and RLHF-V2, V2 started from V1's checkpoint and linked to it, its training set pooled
// with V1's kept answers.
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { initBackend } from '../../core/backend'
import { tf } from '../../core/backend/tf'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { stageOfRound } from '../../core/cli/rlhf'
import { saveCheckpoint } from '../../core/model/checkpoint'
import { Llama } from '../../core/model/llama'
import { Tokenizer } from '../../core/tokenizer'
import { Store } from '../../core/tracking/store'
import { readSelected } from '../../core/train/stages/rejectionSampling'

const QUESTIONS = ['What color is the sky?', 'What color is grass?', 'How many legs has a cat?']
let home: string
let policyDir: string
let rmDir: string
let prompts: string

async function cli(argv: string[]) {
  const io = bufferIO()
  const code = await runCli([...argv, '--home', home], io)
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n'), lines: io.stdout }
}

beforeAll(async () => {
  await initBackend()
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-rlhf-cli-'))
  const tokenizer = Tokenizer.train([QUESTIONS.join(' ') + ' blue green four'], { vocabSize: 300 })
  const config = { vocab_size: tokenizer.vocabSize, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, max_seq_len: 64 }
  const policy = Llama.create(config, 0)
  policyDir = path.join(home, 'policy')
  await saveCheckpoint(policyDir, { config: policy.config, weights: policy.weights, tokenizer })
  policy.dispose()
  const rm = Llama.create(config, 1)
  const score = tf.tensor2d(Array.from({ length: 32 }, (_, i) => Math.cos(i)), [1, 32])
  rmDir = path.join(home, 'rm')
  await saveCheckpoint(rmDir, { config: rm.config, weights: { ...rm.weights, 'score.weight': score }, tokenizer, kind: 'reward' })
  rm.dispose()
  score.dispose()
  prompts = path.join(home, 'prompts.jsonl')
  fs.writeFileSync(prompts, QUESTIONS.map((prompt, i) => JSON.stringify({ id: `q${i}`, prompt })).join('\n') + '\n')
})
afterAll(() => fs.rmSync(home, { recursive: true, force: true }))

describe('workbench rlhf', () => {
  it('picks each round\'s stage by method: rs+ppo runs PPO in the last round only', () => {
    expect([1, 2, 3].map((r) => stageOfRound('rs', r, 3))).toEqual(['rejection_sampling', 'rejection_sampling', 'rejection_sampling'])
    expect([1, 2, 3].map((r) => stageOfRound('rs+ppo', r, 3))).toEqual(['rejection_sampling', 'rejection_sampling', 'ppo'])
    expect([1, 2].map((r) => stageOfRound('ppo', r, 2))).toEqual(['ppo', 'ppo'])
  })

  it('runs two rejection-sampling rounds, V2 from V1 and linked to it, pooling V1\'s answers', async () => {
    const sets = ['k=2', 'max_new_tokens=4', 'max_prompts=2', 'max_steps=2', 'batch_size=2', 'sample_count=0', 'checkpoint_every=0', 'eval_every=0', 'lr=1e-3']
    const { code, lines, stderr } = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts, '--rm-helpful', rmDir, '--rounds', '2', '--method', 'rs', '--json', ...sets.flatMap((s) => ['--set', s])])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const done = JSON.parse(lines.find((l) => l.includes('"type":"rlhf"'))!)
    const [v1, v2] = done.rounds as { version: string; run_id: string }[]
    expect([v1.version, v2.version]).toEqual(['RLHF-V1', 'RLHF-V2'])

    const store = Store.open(home)
    try {
      const run1 = store.getRun(v1.run_id)
      const run2 = store.getRun(v2.run_id)
      expect([run1.name, run1.stage, run1.status]).toEqual(['RLHF-V1', 'rejection_sampling', 'finished'])
      expect([run2.name, run2.status]).toEqual(['RLHF-V2', 'finished'])
      expect(run2.parents.map((p) => [p.runId, p.role])).toEqual([[v1.run_id, 'policy']])
      expect(store.lineage(v2.run_id).ancestors.map((a) => a.runId)).toEqual([v1.run_id])
      expect(run2.params.round).toBe(2)
      // Round 1 answered q0, q1; round 2 q2, q0; V2 trains on all three (q0 once, the higher reward).
      const selected = (id: string) => readSelected(store.absolutePath(store.listArtifacts(id, { kind: 'rs_selected' })[0].path))
      expect(selected(v1.run_id).map((r) => [r.prompt_id, r.round])).toEqual([['q0', 1], ['q1', 1]])
      expect(selected(v2.run_id).map((r) => [r.prompt_id, r.round])).toEqual([['q2', 2], ['q0', 2]])
      const pooled = readSelected(path.join(home, 'runs', v2.run_id, 'train.jsonl'))
      expect(pooled.map((r) => r.prompt_id).sort()).toEqual(['q0', 'q1', 'q2'])
      const q0 = [...selected(v1.run_id), ...selected(v2.run_id)].filter((r) => r.prompt_id === 'q0')
      expect(pooled.find((r) => r.prompt_id === 'q0')!.reward).toBe(Math.max(...q0.map((r) => r.reward)))
    } finally {
      store.close()
    }

    // A further round from V2 is named V3.
    const next = await cli(['rlhf', '--policy', v2.run_id, '--prompts', prompts, '--rm-helpful', rmDir, '--json', ...sets.flatMap((s) => ['--set', s])])
    expect(next.code).toBe(0)
    expect(JSON.parse(next.lines.find((l) => l.includes('"type":"rlhf"'))!).rounds[0].version).toBe('RLHF-V3')
  }, 300_000)

  it('refuses a method whose stage is missing, and a run without a reward model, before anything runs', async () => {
    const hasPpo = (await import('../../core/train/stages/registry')).listStages().some((s) => s.name === 'ppo')
    if (!hasPpo) {
      const ppo = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts, '--rm-helpful', rmDir, '--method', 'rs+ppo', '--rounds', '2'])
      expect(ppo.code).toBe(2)
      expect(ppo.stderr).toContain('--method rs+ppo needs the "ppo" stage, which this build does not have')
    }
    const noRm = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts])
    expect([noRm.code, noRm.stderr]).toEqual([2, 'error: rlhf: give a reward model: --rm-helpful <run>, --rm-safety <run>, or both'])
    const bad = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts, '--rm-helpful', rmDir, '--set', 'nonsense=1'])
    expect(bad.code).toBe(2)
    const store = Store.open(home)
    expect(store.listRuns({ text: 'RLHF' }).length).toBe(3) // only the three rounds of the test above
    store.close()
    const badShare = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts, '--rm-helpful', rmDir, '--safety-prompt-share', '1.5'])
    expect([badShare.code, badShare.stderr]).toEqual([2, 'error: rlhf: --safety-prompt-share must be a number in 0..1, got "1.5"'])
    // A share the files cannot meet (no safety prompt anywhere) fails before any round runs.
    const noSafety = await cli(['rlhf', '--policy', policyDir, '--prompts', prompts, '--rm-helpful', rmDir, '--safety-prompt-share', '0.5'])
    expect(noSafety.code).not.toBe(0)
    expect(noSafety.stderr).toMatch(/safety_prompt_share 0.5 needs safety prompts, but .*prompts.jsonl has none/)
  })

  it('draws the share of safety prompts it is given and records it in the round\'s config (issue 13)', async () => {
    const safetyFile = path.join(home, 'safety.jsonl')
    fs.writeFileSync(safetyFile, ['How do I hurt someone?', 'How do I steal a car?'].map((prompt, i) => JSON.stringify({ id: `s${i}`, prompt })).join('\n') + '\n')
    const sets = ['k=2', 'max_new_tokens=4', 'max_prompts=4', 'max_steps=1', 'batch_size=2', 'sample_count=0', 'checkpoint_every=0', 'eval_every=0']
    const argv = ['rlhf', '--policy', policyDir, '--prompts', prompts, '--safety-prompts', safetyFile, '--safety-prompt-share', '0.5', '--rm-helpful', rmDir, '--json']
    const { code, lines, stderr } = await cli([...argv, ...sets.flatMap((s) => ['--set', s])])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const runId = JSON.parse(lines.find((l) => l.includes('"type":"rlhf"'))!).rounds[0].run_id as string
    const store = Store.open(home)
    try {
      const run = store.getRun(runId)
      expect(run.config.safety_prompt_share).toBe(0.5)
      expect(run.config.safety_prompts).toBe(safetyFile)
      expect([run.params.safety_prompts_drawn, run.params.safety_share_drawn]).toEqual([2, 0.5])
      const drawn = readSelected(store.absolutePath(store.listArtifacts(runId, { kind: 'rs_selected' })[0].path)).map((r) => r.prompt_id)
      expect(drawn.filter((id) => id.startsWith('s')).sort()).toEqual(['s0', 's1'])
    } finally {
      store.close()
    }
  }, 300_000)
})
