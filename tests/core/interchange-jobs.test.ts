// Scale-out bundles: every stage's config mapped to TRL / LLaMA-Factory argument names that those
// tools document, the bundle's files parse (YAML with PyYAML, JSON, bash -n), and a round trip
// export-job -> a hand-written trainer_state.json -> import-job records a linked run with metrics.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { exportJob } from '../../core/interchange/exportJob'
import { importJob } from '../../core/interchange/importJob'
import { JOB_STAGES } from '../../core/interchange/targets/common'
import { LLAMAFACTORY_TABLE, llamafactoryConfig } from '../../core/interchange/targets/llamafactory'
import { TRL_TABLE, trlConfig } from '../../core/interchange/targets/trl'
import { listStages } from '../../core/train/stages/registry'
import { toYaml } from '../../core/interchange/yaml'
import { Store } from '../../core/tracking/store'
import { runDir } from '../../core/tracking/home'
import { makeFixtureCheckpoint } from './interchange-fixture'

// transformers TrainingArguments (https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments)
const TRAINING_ARGUMENTS = [
  'output_dir', 'seed', 'learning_rate', 'max_steps', 'num_train_epochs', 'per_device_train_batch_size', 'gradient_accumulation_steps',
  'warmup_steps', 'weight_decay', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'max_grad_norm', 'logging_steps', 'logging_first_step',
  'eval_steps', 'eval_strategy', 'save_steps', 'save_strategy', 'save_total_limit', 'lr_scheduler_type', 'lr_scheduler_kwargs', 'bf16',
  'gradient_checkpointing', 'report_to', 'deepspeed',
]
// TRL config classes (https://huggingface.co/docs/trl: SFTConfig, RewardConfig, DPOConfig, PPOConfig)
const TRL_DOCUMENTED: Record<string, string[]> = {
  pretrain: ['max_length', 'packing', 'model_name_or_path'],
  sft: ['max_length', 'packing', 'assistant_only_loss', 'model_name_or_path'],
  reward: ['max_length', 'center_rewards_coefficient', 'model_name_or_path'],
  dpo: ['beta', 'max_length', 'max_prompt_length', 'loss_type', 'model_name_or_path'],
  ppo: ['kl_coef', 'cliprange', 'cliprange_value', 'vf_coef', 'num_ppo_epochs', 'gamma', 'lam', 'response_length', 'temperature', 'whiten_rewards', 'model_name_or_path'],
}
// LLaMA-Factory YAML keys (hiyouga/LLaMA-Factory examples/train_full/llama3_full_sft.yaml and hparams)
const LLAMAFACTORY_DOCUMENTED = [
  'model_name_or_path', 'stage', 'do_train', 'finetuning_type', 'deepspeed', 'dataset', 'dataset_dir', 'template', 'cutoff_len',
  'overwrite_cache', 'output_dir', 'logging_steps', 'save_steps', 'plot_loss', 'overwrite_output_dir', 'per_device_train_batch_size',
  'gradient_accumulation_steps', 'learning_rate', 'num_train_epochs', 'lr_scheduler_type', 'warmup_steps', 'bf16', 'val_size',
  'eval_strategy', 'eval_steps', 'report_to', 'pref_beta', 'pref_loss', 'max_steps', 'seed', 'weight_decay', 'adam_beta1', 'adam_beta2',
  'adam_epsilon', 'max_grad_norm', 'save_total_limit', 'max_new_tokens', 'temperature',
]

/** A config with every shared training key plus each stage's own keys. */
function stageConfig(stage: string): Record<string, unknown> {
  const shared = { seed: 1, threads: 0, max_steps: 100, batch_size: 8, grad_accum: 2, lr: 3e-4, min_lr_ratio: 0.1, warmup_steps: 10, weight_decay: 0.1, beta1: 0.9, beta2: 0.95, adam_eps: 1e-5, grad_clip: 1, spike_zscore: 5, max_bad_in_row: 10, log_every: 10, eval_every: 50, eval_batches: 8, sample_every: 0, sample_count: 3, sample_tokens: 48, checkpoint_every: 50, keep_last: 2, seq_len: 64, val_fraction: 0.1 }
  const own: Record<string, Record<string, unknown>> = { pretrain: {}, sft: { epochs: 2, overflow: 'truncate' }, reward: { epochs: 1 }, dpo: { beta: 0.1 }, ppo: { kl_coef: 0.05, cliprange: 0.2, vf_coef: 0.1, ppo_epochs: 4, gamma: 1, lam: 0.95, max_new_tokens: 32, temperature: 1 } }
  return { ...shared, ...own[stage] }
}

describe('mapping tables', () => {
  it('every stage-specific row names a config key the stage really has (for the stages the workbench has)', () => {
    const fieldsOf = new Map(listStages().map((s) => [s.name, new Set(s.fields.map((f) => f.key))]))
    for (const [target, table] of [['trl', TRL_TABLE], ['llamafactory', LLAMAFACTORY_TABLE]] as const) {
      for (const row of table) {
        for (const stage of row.stages ?? []) {
          const keys = fieldsOf.get(stage)
          if (keys) expect(keys.has(row.ours), `${target} row ${row.ours} -> ${row.theirs}: stage ${stage} has no key ${row.ours}`).toBe(true)
        }
      }
    }
  })


  for (const stage of JOB_STAGES) {
    it(`maps a ${stage} config to documented TRL and LLaMA-Factory names`, () => {
      const config = stageConfig(stage)
      const trl = trlConfig(stage, config)
      for (const key of Object.keys(trl.args)) expect([...TRAINING_ARGUMENTS, ...TRL_DOCUMENTED[stage]], `TRL ${stage}: ${key}`).toContain(key)
      const lf = llamafactoryConfig(stage, config, 'd')
      for (const key of Object.keys(lf.args)) expect(LLAMAFACTORY_DOCUMENTED, `LLaMA-Factory ${stage}: ${key}`).toContain(key)
      expect(trl.args.learning_rate).toBe(3e-4)
      expect(lf.args.per_device_train_batch_size).toBe(8)
      // The spike guard does not exist there: said, not dropped silently.
      expect(trl.unmapped.map((u) => u.key)).toContain('spike_zscore')
      expect(lf.unmapped.map((u) => u.key)).toContain('min_lr_ratio')
      expect(trl.unmapped.map((u) => u.key)).not.toContain('threads')
    })
  }
})

describe('export-job and import-job', () => {
  let home: string
  let runId: string
  let dataFile: string

  beforeAll(async () => {
    await initBackend('cpu')
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-jobs-'))
    const fx = await makeFixtureCheckpoint()
    dataFile = path.join(home, 'chat.jsonl')
    fs.writeFileSync(dataFile, [{ instruction: 'Say hi', output: 'Hi!' }, { messages: [{ role: 'user', content: 'Name a colour' }, { role: 'assistant', content: 'Blue.' }] }].map((r) => JSON.stringify(r)).join('\n') + '\n')
    const store = Store.open(home)
    const run = store.createRun({ stage: 'sft', name: 'local sft', config: { ...stageConfig('sft'), base: fx.dir, data: [dataFile] }, status: 'running' })
    store.finishRun(run.id, 'finished')
    store.close()
    runId = run.id
  })

  afterAll(() => fs.rmSync(home, { recursive: true, force: true }))

  for (const target of ['trl', 'llamafactory'] as const) {
    it(`writes a ${target} bundle whose files parse`, () => {
      const out = path.join(home, `bundle-${target}`)
      const result = exportJob(home, runId, target, out)
      expect(result.examples).toBe(2)
      for (const f of ['model/config.json', 'model/model.safetensors', 'model/tokenizer.json', 'data/train.jsonl', 'config.yaml', 'ds_zero2.json', 'launch.sh', 'README.md', 'workbench-job.json']) {
        expect(fs.existsSync(path.join(out, f)), f).toBe(true)
      }
      const lines = fs.readFileSync(path.join(out, 'data/train.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
      expect(lines[0].messages).toEqual([{ role: 'user', content: 'Say hi' }, { role: 'assistant', content: 'Hi!' }])
      JSON.parse(fs.readFileSync(path.join(out, 'ds_zero2.json'), 'utf8'))
      if (target === 'llamafactory') expect(JSON.parse(fs.readFileSync(path.join(out, 'data/dataset_info.json'), 'utf8')).workbench_train.formatting).toBe('sharegpt')
      execFileSync('bash', ['-n', path.join(out, 'launch.sh')])
      const parsed = JSON.parse(execFileSync('/usr/bin/python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', path.join(out, 'config.yaml')], { encoding: 'utf8' }))
      expect(parsed.learning_rate).toBe(3e-4)
      expect(parsed.adam_epsilon).toBe(1e-5)
      expect(parsed.gradient_accumulation_steps).toBe(2)
      if (target === 'trl') {
        expect(parsed.lr_scheduler_kwargs).toEqual({ min_lr_rate: 0.1 })
        execFileSync('/usr/bin/python3', ['-c', 'import ast,sys; ast.parse(open(sys.argv[1]).read())', path.join(out, 'train.py')])
      } else expect(parsed.stage).toBe('sft')
      expect(fs.readFileSync(path.join(out, 'README.md'), 'utf8')).toMatch(/\| spike_zscore \| 5 \|/)
    })
  }

  it('imports a finished cluster run as a run linked to its source, with our metric names', () => {
    const out = path.join(home, 'bundle-trl')
    const final = path.join(out, 'output')
    fs.cpSync(path.join(out, 'model'), final, { recursive: true })
    fs.writeFileSync(path.join(final, 'trainer_state.json'), JSON.stringify({
      global_step: 20,
      log_history: [
        { epoch: 0.5, grad_norm: 1.5, learning_rate: 0.0003, loss: 2.5, step: 10 },
        { epoch: 0.5, eval_loss: 2.4, step: 10 },
        { epoch: 1.0, grad_norm: 0.9, learning_rate: 0.0001, loss: 1.75, step: 20 },
        { epoch: 1.0, step: 20, train_loss: 2.1, train_runtime: 12.5 },
      ],
    }))
    const result = importJob(home, out)
    expect(result.parentRunId).toBe(runId)
    const store = Store.open(home)
    try {
      expect(store.metricHistory(result.runId, 'train/loss').map((p) => [p.step, p.value])).toEqual([[10, 2.5], [20, 1.75]])
      expect(store.metricHistory(result.runId, 'eval/loss').map((p) => [p.step, p.value])).toEqual([[10, 2.4]])
      expect(store.metricHistory(result.runId, 'train/lr').map((p) => p.value)).toEqual([0.0003, 0.0001])
      expect(store.metricHistory(result.runId, 'train/grad_norm').length).toBe(2)
      const details = store.getRun(result.runId)
      expect(details.status).toBe('finished')
      expect(details.parents.map((p) => p.runId)).toEqual([runId])
      expect(fs.existsSync(path.join(runDir(home, result.runId), 'model', 'model.safetensors'))).toBe(true)
    } finally {
      store.close()
    }
  })
})

describe('YAML writer', () => {
  it('quotes strings and writes exponents PyYAML reads as floats', () => {
    expect(toYaml({ a: 'no', b: 1e-7, c: { d: true }, e: [1, 'x'] })).toBe('a: "no"\nb: 1.0e-7\nc:\n  d: true\ne: [1, "x"]\n')
  })
})
