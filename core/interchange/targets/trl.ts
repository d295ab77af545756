// Hugging Face TRL as a scale-out target. The ONE mapping table from our config keys to TRL's
// config classes (SFTConfig, RewardConfig, PPOConfig, DPOConfig, all extending transformers'
// TrainingArguments). Names as documented at https://huggingface.co/docs/trl (sft_trainer,
// reward_trainer, ppo_trainer, dpo_trainer) and transformers' TrainingArguments.
import { applyMapping, TRAINING_ARGUMENT_ROWS, type JobStage, type MappedConfig, type MappingRow, UNMAPPED_WHY } from './common'

/** The TRL config class and trainer per stage (pretraining is SFT on plain text). */
export const TRL_CLASSES: Record<JobStage, { config: string; trainer: string }> = {
  pretrain: { config: 'SFTConfig', trainer: 'SFTTrainer' },
  sft: { config: 'SFTConfig', trainer: 'SFTTrainer' },
  reward: { config: 'RewardConfig', trainer: 'RewardTrainer' },
  ppo: { config: 'PPOConfig', trainer: 'PPOTrainer' },
  dpo: { config: 'DPOConfig', trainer: 'DPOTrainer' },
}

export const TRL_TABLE: MappingRow[] = [
  ...TRAINING_ARGUMENT_ROWS,
  // Llama 2's cosine decays to a fraction of the peak: transformers' cosine_with_min_lr.
  { ours: 'min_lr_ratio', theirs: 'lr_scheduler_kwargs', convert: (v) => ({ min_lr_rate: v }) },
  { ours: 'seq_len', theirs: 'max_length', stages: ['pretrain', 'sft', 'reward', 'dpo'] },
  { ours: 'beta', theirs: 'beta', stages: ['dpo'] },
  { ours: 'kl_coef', theirs: 'kl_coef', stages: ['ppo'] },
  { ours: 'cliprange', theirs: 'cliprange', stages: ['ppo'] },
  { ours: 'cliprange_value', theirs: 'cliprange_value', stages: ['ppo'] },
  { ours: 'vf_coef', theirs: 'vf_coef', stages: ['ppo'] },
  { ours: 'ppo_epochs', theirs: 'num_ppo_epochs', stages: ['ppo'] },
  { ours: 'gamma', theirs: 'gamma', stages: ['ppo'] },
  { ours: 'lam', theirs: 'lam', stages: ['ppo'] },
  { ours: 'max_new_tokens', theirs: 'response_length', stages: ['ppo'] },
  { ours: 'temperature', theirs: 'temperature', stages: ['ppo'] },
  { ours: 'whiten_scores', theirs: 'whiten_rewards', stages: ['ppo'] },
]

export function trlConfig(stage: JobStage, config: Record<string, unknown>): MappedConfig {
  const mapped = applyMapping(TRL_TABLE, stage, config, UNMAPPED_WHY)
  const args: Record<string, unknown> = {
    output_dir: 'output',
    lr_scheduler_type: 'lr_scheduler_kwargs' in mapped.args ? 'cosine_with_min_lr' : 'cosine',
    logging_first_step: true,
    eval_strategy: 'steps',
    save_strategy: 'steps',
    bf16: true,
    gradient_checkpointing: true,
    report_to: 'none',
    deepspeed: 'ds_zero2.json',
    ...mapped.args,
  }
  if (stage === 'pretrain') args.packing = true // plain text packed into full windows, as our pretraining does
  if (stage === 'sft') args.assistant_only_loss = true // our SFT masks everything but the answers
  return { args, unmapped: mapped.unmapped }
}
