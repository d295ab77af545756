// Stage `gatt`: Ghost Attention (RECIPE.md section 6, Llama 2 section 3.3). Builds multi-turn
// dialogues from the user turns of SFT data with a system instruction that must hold over the
// whole dialogue:
//   1. sample: the instruction is joined to EVERY user turn, and the current model answers each
//      turn in turn (so its answers follow the instruction while it is in view);
//   2. keep: the instruction stays in the first turn only (as the system message), the user turns
//      are the plain ones, the answers are the sampled ones;
//   3. train: the loss is zero on every earlier turn's tokens (the model's own earlier answers
//      included); only the last assistant turn carries loss (encodeChat's lossOn
//      'last_assistant'), with SFT's fine-tuning (fineTuneOnChatFiles).
// With require_adherence (the default), a dialogue ends before the first sampled answer that fails
// the instruction's gold check, so no dialogue teaches breaking the instruction; counts recorded.
// Then instruction adherence by turn number (core/eval/adherence.ts), up to 20 turns, of the base
// (without GAtt) and of the trained model (with GAtt), both with a context of seq_len tokens:
// gatt/base_adherence_turn_<n> and gatt/adherence_turn_<n> (a turn beyond the context is not measured).
// And the attention each model's first measured dialogue pays to its system message, as a heat map
// and a share per turn (core/eval/systemAttention.ts; attention_map.json, artifact gatt_attention).

import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { readRecords, recordValue } from '../../data/records'
import type { ChatMessage } from '../../data/chatTemplate'
import { parseSftRecord } from '../../data/sft'
import { followsInstruction, GENERIC_INSTRUCTIONS, samplingTurns, measureAdherence, readInstructions, type AdherenceResult, type Instruction } from '../../eval/adherence'
import type { Llama } from '../../model/llama'
import { loadModel } from '../../model/load'
import type { Tokenizer } from '../../tokenizer'
import { mulberry32 } from '../../util/random'
import { chatAnswer } from '../../eval/chatAnswer'
import { systemAttentionMap, type SystemAttentionMap, type SystemAttentionReport } from '../../eval/systemAttention'
import { parentCheckpoint } from './common'
import { precheckSft } from './precheck'
import { fineTuneOnChatFiles, sftTrainingFields } from './sft'
import { finetuningEstimate } from './finetuning'
import { defineStage, type StageContext, type StageResult } from './types'

const schema = z
  .object({
    base: z.string().optional().meta({ group: 'model', path: 'model', help: 'The model that samples the dialogues and is trained (Llama 2: the latest RLHF model): a run id or checkpoint folder.' }),
    data: z.array(z.string()).min(1).meta({ group: 'data', path: 'input', data: 'sft', help: 'SFT files (any SFT format) whose user turns make the dialogues.' }),
    instructions: z.string().optional().meta({ group: 'data', path: 'input', help: 'Instructions with gold checks (JSONL: instruction, check {type: one_sentence | max_words | mention | starts_with}); default: one sentence, eight words or fewer.' }),
    dialogues: z.number().int().min(1).default(64).meta({ group: 'gatt', help: 'Dialogues to sample (the instructions take turns).' }),
    max_turns: z.number().int().min(1).default(3).meta({ group: 'gatt', help: 'User turns per dialogue, at most (each dialogue draws its length from 1..max_turns; the context may end it sooner).' }),
    require_adherence: z.boolean().default(true).meta({ group: 'gatt', help: 'End a dialogue before the first sampled answer that fails the instruction\'s gold check (a dialogue failing at turn 1 is dropped).' }),
    every_turn: z.boolean().default(false).meta({ group: 'gatt', help: 'Train on every turn of a sampled dialogue: each of its prefixes is one training dialogue, loss on its last answer (more data from the same samples); off: the whole dialogue once.' }),
    max_new_tokens: z.number().int().min(1).default(48).meta({ group: 'gatt', help: 'New tokens per sampled answer.' }),
    temperature: z.number().min(0).default(0.7).meta({ group: 'gatt', help: 'Sampling temperature of the answers (0 = greedy).' }),
    eval_turns: z.number().int().min(0).max(50).default(20).meta({ group: 'adherence', help: 'Dialogue length of the adherence measure, in turns (0 = no measure; Llama 2: 20). A dialogue ends when it outgrows seq_len, so seq_len must hold the whole dialogue for the last turns to be measured.' }),
    eval_dialogues: z.number().int().min(1).default(2).meta({ group: 'adherence', help: 'Dialogues per instruction in the adherence measure.' }),
    eval_max_new_tokens: z.number().int().min(1).default(32).meta({ group: 'adherence', help: 'New tokens per answer in the adherence measure (greedy).' }),
    ...sftTrainingFields().shape,
  })
  .strict()

export type GattConfig = z.output<typeof schema>

/** The dialogue as trained: the instruction in the first turn only (the system message), plain user turns, the sampled answers. */
export function trainingDialogue(instruction: string, userTurns: string[], answers: string[]): ChatMessage[] {
  if (answers.length !== userTurns.length) throw new Error(`trainingDialogue: ${answers.length} answers for ${userTurns.length} user turns`)
  return [{ role: 'system', content: instruction }, ...userTurns.flatMap((u, i): ChatMessage[] => [{ role: 'user', content: u }, { role: 'assistant', content: answers[i] }])]
}

/** Every user turn of the SFT files (any format), in file order. */
export function userTurnsOf(files: string[]): string[] {
  const turns: string[] = []
  for (const file of files) {
    for (const record of readRecords(file)) {
      const { messages } = parseSftRecord(recordValue(record), record.where)
      for (const m of messages) if (m.role === 'user') turns.push(m.content)
    }
  }
  if (turns.length === 0) throw new Error(`gatt: no user turns in ${files.join(', ')}`)
  return turns
}

const DIALOGUES_FILE = 'gatt_dialogues.jsonl'
const ATTENTION_MAP_FILE = 'attention_map.json'
/** Artifact kind of the attention maps without and with GAtt (meta: { instruction, base, gatt }, each a SystemAttentionMap). */
export const ATTENTION_ARTIFACT = 'gatt_attention'

export const gattStage = defineStage({
  name: 'gatt',
  title: 'Ghost Attention (multi-turn instructions)',
  description:
    'Samples dialogues with a system instruction joined to every user turn, keeps it in the first turn only and trains on the last answer ' +
    '(zero loss on earlier turns), so the instruction holds over many turns. Measures instruction adherence by turn, with and without GAtt, ' +
    'and maps the attention paid to the system message.',
  schema,
  presets: {
    tiny: { lr: 1e-3, batch_size: 8, epochs: 4, warmup_steps: 5, dialogues: 32, max_turns: 3, eval_turns: 8 },
  },
  parents: [{ role: 'base', key: 'base', required: true }],
  cli: {
    command: 'gatt',
    summary: 'gatt --base <run|ckpt> --data <f>  Ghost Attention: keep a system instruction over many turns',
    usage: [
      'Usage: workbench gatt --base <run|checkpoint> --data <sft.jsonl> [--instructions <file.jsonl>] [options]',
      '',
      'Builds dialogues from the user turns of the SFT data: the model answers with the instruction joined to every user',
      'turn; the dialogue is trained with the instruction in the first turn only and loss on the last answer only.',
      'Then instruction adherence by turn (up to eval_turns = 20) of the base and the trained model:',
      'metrics gatt/base_adherence_turn_<n> and gatt/adherence_turn_<n>. Dialogues: gatt_dialogues.jsonl in the run folder;',
      'the attention each model pays to the system message over its first measured dialogue: attention_map.json (heat map, share per turn).',
    ].join('\n'),
    flags: { base: 'base', data: 'data', instructions: 'instructions' },
  },
  estimate: (config, from) => finetuningEstimate(config, from, { notes: ['the fine-tuning step; sampling the answers first needs less'] }),
  precheck: (config) => {
    precheckSft(config.data, config.skip_invalid)
    if (config.instructions) readInstructions(config.instructions)
  },
  run: runGatt,
})

async function runGatt(ctx: StageContext, config: GattConfig): Promise<StageResult> {
  const baseDir = parentCheckpoint(ctx, 'base', config.base, 'base')
  if (!baseDir) throw new Error('gatt needs a base model: set base=<run id or checkpoint folder>')
  const instructions = config.instructions ? readInstructions(config.instructions) : GENERIC_INSTRUCTIONS
  const userTurns = userTurnsOf(config.data)
  const dialoguesFile = path.join(ctx.runDir, DIALOGUES_FILE)
  const { model, tokenizer } = loadModel(baseDir, { maxSeqLen: config.seq_len })
  let result: StageResult
  let baseAdherence: AdherenceResult | undefined
  let baseAttention: SystemAttentionMap | undefined
  let counts: DialogueCounts | undefined
  try {
    if (config.eval_turns > 0) {
      baseAdherence = await adherenceOf(ctx, config, model, tokenizer, instructions, userTurns)
      ctx.tracker.logMetrics(0, adherenceMetrics('gatt/base_adherence', baseAdherence))
      baseAttention = systemAttentionMap(model, tokenizer, baseAdherence.firstDialogue)
    }
    if (ctx.resumeFrom && fs.existsSync(dialoguesFile)) ctx.log(`resuming: training on the dialogues sampled before (${dialoguesFile})`)
    else counts = await sampleDialogues(ctx, config, model, tokenizer, instructions, userTurns, dialoguesFile)
    result = await fineTuneOnChatFiles(ctx, { model, tokenizer, baseDir, files: [dialoguesFile], config, lossOn: 'last_assistant', stage: 'gatt' })
  } finally {
    model.dispose()
  }
  const summary: StageResult['summary'] = { ...result.summary, ...(counts ?? {}) }
  if (baseAdherence) summary.base_adherence_mean = round4(baseAdherence.mean)
  if (config.eval_turns > 0 && result.checkpointDir && !result.stopped) {
    const trained = loadModel(result.checkpointDir)
    try {
      const adherence = await adherenceOf(ctx, config, trained.model, trained.tokenizer, instructions, userTurns)
      ctx.tracker.logMetrics(Number(result.summary.steps), adherenceMetrics('gatt/adherence', adherence))
      summary.adherence_mean = round4(adherence.mean)
      summary.adherence_last_turn = round4(adherence.byTurn[adherence.byTurn.length - 1])
      if (baseAdherence) summary.base_adherence_last_turn = round4(baseAdherence.byTurn[baseAdherence.byTurn.length - 1])
      if (baseAttention && baseAdherence) logAttentionMaps(ctx, baseAdherence.firstDialogue[0].content, baseAttention, systemAttentionMap(trained.model, trained.tokenizer, adherence.firstDialogue))
    } finally {
      trained.dispose()
    }
  }
  ctx.tracker.flush()
  return { ...result, summary }
}

/**
 * The attention each model's first measured dialogue pays to its system message (Llama 2 Figure
 * 10), without GAtt (the base) and with it: attention_map.json in the run folder, and artifact
 * `gatt_attention` whose meta the app draws as heat maps.
 */
function logAttentionMaps(ctx: StageContext, instruction: string, base: SystemAttentionMap, gatt: SystemAttentionMap): void {
  const file = path.join(ctx.runDir, ATTENTION_MAP_FILE)
  const report: SystemAttentionReport = { instruction, base, gatt }
  fs.writeFileSync(file, JSON.stringify(report) + '\n')
  ctx.tracker.logArtifact({ kind: ATTENTION_ARTIFACT, path: file, meta: report })
}

function adherenceOf(ctx: StageContext, config: GattConfig, model: Llama, tokenizer: Tokenizer, instructions: Instruction[], userTurns: string[]): Promise<AdherenceResult> {
  return measureAdherence(model, tokenizer, instructions, userTurns, {
    turns: config.eval_turns,
    dialoguesPerInstruction: config.eval_dialogues,
    maxNewTokens: config.eval_max_new_tokens,
    seed: ctx.seed + 1,
    signal: ctx.signal,
  })
}

/** `<prefix>_turn_<n>` for n = 1.. (NaN turns, never reached, are left out). */
export function adherenceMetrics(prefix: string, result: AdherenceResult): Record<string, number> {
  const out: Record<string, number> = {}
  result.byTurn.forEach((share, t) => {
    if (Number.isFinite(share)) out[`${prefix}_turn_${t + 1}`] = share
  })
  return out
}

interface DialogueCounts {
  gatt_dialogues: number
  gatt_turns: number
  /** Dialogues ended early because an answer broke the instruction (after at least one kept turn). */
  gatt_cut: number
  /** Dialogues with no kept turn (the first answer broke the instruction, or was empty). */
  gatt_dropped: number
}

/** Samples the dialogues and writes them (chat messages JSONL) to `file`; returns the counts, also logged as params. */
async function sampleDialogues(
  ctx: StageContext,
  config: GattConfig,
  model: Llama,
  tokenizer: Tokenizer,
  instructions: Instruction[],
  userTurns: string[],
  file: string,
): Promise<DialogueCounts> {
  const rand = mulberry32(ctx.seed)
  const lines: string[] = []
  const counts: DialogueCounts = { gatt_dialogues: 0, gatt_turns: 0, gatt_cut: 0, gatt_dropped: 0 }
  for (let d = 0; d < config.dialogues; d++) {
    if (ctx.signal.aborted) throw new Error('gatt: stopped while sampling the dialogues (nothing to resume from yet)')
    const instruction = instructions[d % instructions.length]
    const length = 1 + Math.floor(rand() * config.max_turns)
    const users: string[] = []
    const answers: string[] = []
    const finished: boolean[] = []
    const context: ChatMessage[] = []
    for (let t = 0; t < length; t++) {
      const user = userTurns[Math.floor(rand() * userTurns.length)]
      context.push({ role: 'user', content: samplingTurns(instruction.instruction, user) })
      const sampled = await chatAnswer(model, tokenizer, context, { maxNewTokens: config.max_new_tokens, temperature: config.temperature, seed: ctx.seed + d * 100 + t, signal: ctx.signal })
      if (sampled === null || sampled.text === '') break // the context is full, or nothing was said
      const answer = sampled.text
      if (config.require_adherence && !followsInstruction(instruction.check, answer)) {
        if (answers.length > 0) counts.gatt_cut++
        break
      }
      users.push(user)
      answers.push(answer)
      finished.push(sampled.finished)
      context.push({ role: 'assistant', content: answer })
    }
    ctx.progress({ step: d + 1, totalSteps: config.dialogues, message: 'sampling dialogues' })
    if (answers.length === 0) {
      counts.gatt_dropped++
      continue
    }
    counts.gatt_dialogues++
    counts.gatt_turns += answers.length
    for (const turns of config.every_turn ? answers.map((_, t) => t + 1) : [answers.length]) {
      // A last answer cut at max_new_tokens is learned without its end-of-turn token (SFT's `unfinished`).
      const cut = finished[turns - 1] ? {} : { unfinished: true }
      lines.push(JSON.stringify({ messages: trainingDialogue(instruction.instruction, users.slice(0, turns), answers.slice(0, turns)), instruction: instruction.id, ...cut }))
    }
  }
  ctx.tracker.logParams({ ...counts })
  ctx.log(`gatt: ${counts.gatt_dialogues} dialogues (${counts.gatt_turns} turns) kept, ${counts.gatt_cut} cut at a broken instruction, ${counts.gatt_dropped} dropped`)
  if (lines.length === 0) {
    throw new Error(`gatt: no dialogue to train on: the model broke the instruction in the first answer of all ${config.dialogues} dialogues (set require_adherence=false to train on them anyway)`)
  }
  fs.mkdirSync(ctx.runDir, { recursive: true })
  fs.writeFileSync(file, lines.join('\n') + '\n')
  ctx.tracker.logArtifact({ kind: 'sft_data', path: file, meta: { dialogues: lines.length } })
  return counts
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000
}
