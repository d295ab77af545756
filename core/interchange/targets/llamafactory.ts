// LLaMA-Factory as a scale-out target. The ONE mapping table from our config keys to its YAML
// arguments (hiyouga/LLaMA-Factory: examples/train_full/*.yaml, src/llamafactory/hparams/*, plus
// transformers' TrainingArguments). Stages: pt, sft, rm, ppo, dpo.
import { applyMapping, TRAINING_ARGUMENT_ROWS, type JobStage, type MappedConfig, type MappingRow, UNMAPPED_WHY } from './common'

export const LLAMAFACTORY_STAGE: Record<JobStage, string> = { pretrain: 'pt', sft: 'sft', reward: 'rm', ppo: 'ppo', dpo: 'dpo' }

export const LLAMAFACTORY_TABLE: MappingRow[] = [
  ...TRAINING_ARGUMENT_ROWS,
  { ours: 'seq_len', theirs: 'cutoff_len' },
  { ours: 'val_fraction', theirs: 'val_size' },
  { ours: 'beta', theirs: 'pref_beta', stages: ['dpo'] },
  { ours: 'max_new_tokens', theirs: 'max_new_tokens', stages: ['ppo'] },
  { ours: 'temperature', theirs: 'temperature', stages: ['ppo'] },
]

export function llamafactoryConfig(stage: JobStage, config: Record<string, unknown>, dataset: string): MappedConfig {
  const why = { ...UNMAPPED_WHY, min_lr_ratio: 'LLaMA-Factory\'s cosine schedule decays to zero' }
  const mapped = applyMapping(LLAMAFACTORY_TABLE, stage, config, why)
  const args: Record<string, unknown> = {
    model_name_or_path: 'model',
    stage: LLAMAFACTORY_STAGE[stage],
    do_train: true,
    finetuning_type: 'full',
    deepspeed: 'ds_zero2.json',
    dataset,
    dataset_dir: 'data',
    template: 'empty', // the chat template comes from the model's tokenizer_config.json
    overwrite_cache: true,
    output_dir: 'output',
    plot_loss: true,
    overwrite_output_dir: true,
    lr_scheduler_type: 'cosine',
    bf16: true,
    eval_strategy: 'steps',
    report_to: 'none',
    ...mapped.args,
  }
  if (stage === 'dpo') args.pref_loss = 'sigmoid'
  return { args, unmapped: mapped.unmapped }
}
