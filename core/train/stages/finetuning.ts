// The `finetuning: full | lora` setting shared by the stages that start from a checkpoint (SFT and
// the stages that fine-tune the same way, the reward model): its fields and how a model gets its
// fresh adapters (core/model/lora.ts). With LoRA the trunk stays frozen and the training loop
// saves PEFT adapter folders over the base (LoopOptions.adapterBase).
import { z } from 'zod'
import { DEFAULT_LORA_TARGETS, LORA_TARGETS, LoraAdapters, foldAdaptersInPlace, type LoraSettings, type LoraTarget } from '../../model/lora'
import type { Llama } from '../../model/llama'
import { trainingMemory } from '../memoryEstimate'
import type { EstimateFrom, StageEstimate } from './types'

export const finetuningShape = {
  finetuning: z.enum(['full', 'lora']).default('full').meta({ group: 'model', help: 'full: train every weight. lora: freeze the model and train small LoRA adapters (saved as a PEFT adapter folder over the base).' }),
  lora_rank: z.number().int().min(1).max(1024).default(8).meta({ group: 'model', help: 'LoRA rank r (PEFT default 8).' }),
  lora_alpha: z.number().positive().default(16).meta({ group: 'model', help: 'LoRA alpha; the update is scaled by alpha / r.' }),
  lora_dropout: z
    .number()
    .min(0)
    .max(0.9)
    .default(0)
    .meta({ group: 'model', help: 'Dropout on the adapter input while training (PEFT and LLaMA-Factory default 0). Above 0 each layer runs as separate kernels with a drawn mask per projection: several times slower on CPU.' }),
  lora_targets: z
    .array(z.string())
    .min(1)
    .refine((list) => list.every((t) => (LORA_TARGETS as readonly string[]).includes(t)), { message: `each LoRA target must be one of ${LORA_TARGETS.join(', ')}` })
    .default([...DEFAULT_LORA_TARGETS])
    .meta({ group: 'model', help: 'Linear layers that get adapters: any of q, k, v, o, gate, up, down (PEFT\'s Llama default: q, v).' }),
}

export interface FinetuningConfig {
  finetuning: 'full' | 'lora'
  lora_rank: number
  lora_alpha: number
  lora_dropout: number
  /** Checked by the schema: each one of LORA_TARGETS. */
  lora_targets: string[]
}

export function loraSettingsOf(config: FinetuningConfig): LoraSettings {
  return { rank: config.lora_rank, alpha: config.lora_alpha, dropout: config.lora_dropout, targets: config.lora_targets as LoraTarget[] }
}

/**
 * Prepares a loaded model for its fine-tuning and returns the LoopOptions.adapterBase: for LoRA,
 * fresh adapters over the frozen trunk of `baseDir`; for full, adapters the folder brought are
 * folded into the weights first (so the saved model is the adapted one). A LoRA run on an adapter
 * folder is refused: an adapter's base must be a full model.
 */
export function prepareFinetuning(model: Llama, config: FinetuningConfig, baseDir: string, seed: number): string | undefined {
  if (config.finetuning === 'full') {
    foldAdaptersInPlace(model)
    return undefined
  }
  if (model.adapters) throw adapterBaseError(baseDir)
  model.adapters = LoraAdapters.create(model.config, loraSettingsOf(config), seed)
  freezeTrunk(model)
  return baseDir
}

/** LoRA needs a full model under it: an adapter folder as the base is refused with this. */
export function adapterBaseError(baseDir: string): Error {
  return new Error(`${baseDir} is a LoRA adapter folder; merge it first (workbench merge --adapter ${baseDir} --out DIR) and fine-tune the merged folder with LoRA`)
}

/**
 * Marks the trunk's weights as not trainable: the linear layers then skip their weight gradients
 * (kernels/linear.ts frozenLinear), which a LoRA step never uses.
 */
export function freezeTrunk(model: Llama): void {
  for (const w of Object.values(model.weights)) w.trainable = false
}

/**
 * The memory preview of a stage that fine-tunes the checkpoint `from` (undefined until one is
 * picked): `rowsPerExample` sequences of seq_len tokens (default: the checkpoint's context) per
 * example, batch_size examples per step, fully or with LoRA as `finetuning` says.
 */
export function finetuningEstimate(
  config: FinetuningConfig & { batch_size: number; seq_len?: number },
  from: EstimateFrom | undefined,
  opts: { rowsPerExample?: number; logits?: boolean; notes?: string[] } = {},
): StageEstimate | undefined {
  if (!from) return undefined
  const lora = config.finetuning === 'lora' ? { rank: config.lora_rank, targets: config.lora_targets as LoraTarget[], dropout: config.lora_dropout } : undefined
  const batch = config.batch_size * (opts.rowsPerExample ?? 1)
  return trainingMemory(from.model, { batch, seq: config.seq_len ?? from.model.max_seq_len, lora, logits: opts.logits }, opts.notes)
}
