// LoRA adapter folders in PEFT's layout: adapter_config.json + adapter_model.safetensors, tensors
// named as PEFT's get_peft_model_state_dict names them (the adapter name stripped):
//   base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight   A [r, in]
//   base_model.model.model.layers.N.self_attn.q_proj.lora_B.weight   B [out, r]
//   base_model.model.score.weight                                    a SEQ_CLS head (modules_to_save)
// Inside the workbench the same tensors go without the `base_model.model.` prefix.
import fs from 'node:fs'
import path from 'node:path'
import { LORA_TARGETS, targetFromModuleName, targetModuleName, type LoraSettings, type LoraTarget } from './lora'

export const ADAPTER_FILES = { config: 'adapter_config.json', model: 'adapter_model.safetensors' } as const

const PEFT_PREFIX = 'base_model.model.'

export type PeftTaskType = 'CAUSAL_LM' | 'SEQ_CLS'

/** True when `dir` holds a PEFT adapter (adapter_config.json and its weights). */
export function isAdapterDir(dir: string): boolean {
  return fs.existsSync(path.join(dir, ADAPTER_FILES.config)) && fs.existsSync(path.join(dir, ADAPTER_FILES.model))
}

/** adapter_config.json as PEFT writes it for a LoraConfig. */
export function peftAdapterConfig(settings: LoraSettings, baseDir: string, taskType: PeftTaskType): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: taskType,
    base_model_name_or_path: path.resolve(baseDir),
    r: settings.rank,
    lora_alpha: settings.alpha,
    lora_dropout: settings.dropout,
    target_modules: settings.targets.map(targetModuleName),
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    use_rslora: false,
    use_dora: false,
    init_lora_weights: true,
    modules_to_save: taskType === 'SEQ_CLS' ? ['score'] : null,
  }
}

/** Workbench tensor names -> PEFT's (adds `base_model.model.`). */
export function toPeftNames<T>(tensors: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(tensors).map(([name, t]) => [PEFT_PREFIX + name, t]))
}

/**
 * PEFT's names -> the workbench's. Also accepts names that still carry an adapter name
 * (`.lora_A.default.weight`) or the modules_to_save copy (`score.modules_to_save.default.weight`).
 */
export function fromPeftNames<T>(tensors: Record<string, T>, source: string): Record<string, T> {
  const out: Record<string, T> = {}
  for (const [name, t] of Object.entries(tensors)) {
    if (!name.startsWith(PEFT_PREFIX)) throw new Error(`${source}: tensor "${name}" is not a PEFT adapter tensor (expected names starting "${PEFT_PREFIX}")`)
    const plain = name
      .slice(PEFT_PREFIX.length)
      .replace(/\.(lora_[AB])\.[^.]+\.weight$/, '.$1.weight')
      .replace(/\.modules_to_save\.[^.]+\./, '.')
    out[plain] = t
  }
  return out
}

export interface AdapterConfig {
  settings: LoraSettings
  taskType: PeftTaskType
  /** The base model folder, resolved against the adapter folder when relative. */
  baseDir: string
}

/** Reads and checks adapter_config.json: only what this workbench can apply exactly is accepted. */
export function readAdapterConfig(dir: string): AdapterConfig {
  const file = path.join(dir, ADAPTER_FILES.config)
  let json: Record<string, unknown>
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>
  } catch (err) {
    throw new Error(`${file}: cannot read: ${(err as Error).message}`)
  }
  const fail = (msg: string): never => {
    throw new Error(`${file}: ${msg}`)
  }
  if (json.peft_type !== 'LORA') fail(`peft_type must be "LORA", got ${JSON.stringify(json.peft_type)}`)
  const taskType = json.task_type ?? 'CAUSAL_LM'
  if (taskType !== 'CAUSAL_LM' && taskType !== 'SEQ_CLS') fail(`task_type must be CAUSAL_LM or SEQ_CLS, got ${JSON.stringify(taskType)}`)
  if (!Number.isInteger(json.r) || (json.r as number) < 1) fail(`"r" must be a whole number >= 1, got ${JSON.stringify(json.r)}`)
  if (typeof json.lora_alpha !== 'number' || json.lora_alpha <= 0) fail(`"lora_alpha" must be a number > 0, got ${JSON.stringify(json.lora_alpha)}`)
  if ((json.bias ?? 'none') !== 'none') fail(`bias "${String(json.bias)}" is not supported (only "none")`)
  if (json.fan_in_fan_out === true) fail('fan_in_fan_out true is for GPT-2 style Conv1D layers, not Llama')
  if (json.use_rslora === true) fail('use_rslora (scaling alpha / sqrt(r)) is not supported')
  if (json.use_dora === true) fail('use_dora (DoRA) is not supported')
  for (const key of ['rank_pattern', 'alpha_pattern'] as const) {
    const v = json[key]
    if (v && typeof v === 'object' && Object.keys(v).length > 0) fail(`${key} (per-layer ranks or alphas) is not supported`)
  }
  if (json.layers_to_transform !== undefined && json.layers_to_transform !== null) fail('layers_to_transform is not supported (adapters on every layer only)')
  const modules = json.target_modules
  if (!Array.isArray(modules) || modules.length === 0) fail(`target_modules must be a list of module names (any of ${LORA_TARGETS.map(targetModuleName).join(', ')}), got ${JSON.stringify(modules)}`)
  const targets = (modules as unknown[]).map((m) => targetFromModuleName(String(m)) ?? fail(`target module "${String(m)}" is not a Llama linear layer (any of ${LORA_TARGETS.map(targetModuleName).join(', ')})`)) as LoraTarget[]
  const base = json.base_model_name_or_path
  if (typeof base !== 'string' || base === '') fail('base_model_name_or_path is missing: it names the base model folder')
  const baseDir = path.resolve(dir, base as string)
  if (!fs.existsSync(baseDir)) fail(`base_model_name_or_path "${String(base)}" is not a folder here (${baseDir}); download or import the base model and point the adapter at its folder`)
  const dropout = typeof json.lora_dropout === 'number' ? json.lora_dropout : 0
  return {
    settings: { rank: json.r as number, alpha: json.lora_alpha as number, dropout, targets: LORA_TARGETS.filter((t) => targets.includes(t)) },
    taskType: taskType as PeftTaskType,
    baseDir,
  }
}
