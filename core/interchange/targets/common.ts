// What every scale-out target shares: the stages we hand over, and the mapping-table row type.
// One table per target (trl.ts, llamafactory.ts) says which of our config keys becomes which of
// the target's arguments; keys without a row are listed as unmapped in the bundle's README.

/** Our stages that a cluster engine can run, with the nearest equivalent there. */
export type JobStage = 'pretrain' | 'sft' | 'reward' | 'ppo' | 'dpo'
export const JOB_STAGES: JobStage[] = ['pretrain', 'sft', 'reward', 'ppo', 'dpo']

export interface MappingRow {
  /** Our config key. */
  ours: string
  /** The target's argument name. */
  theirs: string
  /** Only for these stages (all when absent). */
  stages?: JobStage[]
  /** Converts our value (default: as is). */
  convert?: (value: unknown, config: Record<string, unknown>) => unknown
}

/** Our keys that configure the workbench itself and have no meaning on a cluster. */
export const LOCAL_ONLY_KEYS = new Set(['threads', 'thread_mode', 'data', 'base', 'init_from', 'tokenizer', 'model', 'skip_invalid', 'sample_every', 'sample_count', 'sample_tokens', 'policy', 'reward_model', 'preferences', 'prompts', 'reference'])

export interface MappedConfig {
  args: Record<string, unknown>
  /** Our keys (with values) that have no equivalent in the target: listed in the README. */
  unmapped: Array<{ key: string; value: unknown; why: string }>
}

/**
 * Rows both targets share: TRL's config classes and LLaMA-Factory's YAML both take transformers'
 * TrainingArguments under these names.
 */
export const TRAINING_ARGUMENT_ROWS: MappingRow[] = [
  { ours: 'seed', theirs: 'seed' },
  { ours: 'lr', theirs: 'learning_rate' },
  { ours: 'max_steps', theirs: 'max_steps' },
  { ours: 'epochs', theirs: 'num_train_epochs' },
  { ours: 'batch_size', theirs: 'per_device_train_batch_size' },
  { ours: 'grad_accum', theirs: 'gradient_accumulation_steps' },
  { ours: 'warmup_steps', theirs: 'warmup_steps' },
  { ours: 'weight_decay', theirs: 'weight_decay' },
  { ours: 'beta1', theirs: 'adam_beta1' },
  { ours: 'beta2', theirs: 'adam_beta2' },
  { ours: 'adam_eps', theirs: 'adam_epsilon' },
  { ours: 'grad_clip', theirs: 'max_grad_norm' },
  { ours: 'log_every', theirs: 'logging_steps' },
  { ours: 'eval_every', theirs: 'eval_steps' },
  { ours: 'checkpoint_every', theirs: 'save_steps' },
  { ours: 'keep_last', theirs: 'save_total_limit' },
]

/** Applies a mapping table to a run's config for one stage. */
export function applyMapping(table: MappingRow[], stage: JobStage, config: Record<string, unknown>, why: Record<string, string>): MappedConfig {
  const args: Record<string, unknown> = {}
  const used = new Set<string>()
  for (const row of table) {
    if (row.stages && !row.stages.includes(stage)) continue
    if (!(row.ours in config) || config[row.ours] === undefined || config[row.ours] === null) continue
    args[row.theirs] = row.convert ? row.convert(config[row.ours], config) : config[row.ours]
    used.add(row.ours)
  }
  const unmapped = Object.entries(config)
    .filter(([key]) => !used.has(key) && !LOCAL_ONLY_KEYS.has(key))
    .map(([key, value]) => ({ key, value, why: why[key] ?? 'no equivalent argument' }))
  return { args, unmapped }
}

/** Why some keys do not map, the same for both targets. */
export const UNMAPPED_WHY: Record<string, string> = {
  spike_zscore: 'the workbench skips loss spikes; Hugging Face Trainer has no such guard',
  max_bad_in_row: 'belongs to the spike guard',
  eval_batches: 'the Trainer evaluates the whole eval split',
  keep_last: 'mapped as save_total_limit where the target has it',
  overflow: 'over-long examples are truncated at the maximum length',
  val_fraction: 'the bundle writes the validation split as its own file',
  min_lr_ratio: 'a cosine that ends above zero needs cosine_with_min_lr (mapped where the target has it)',
}
