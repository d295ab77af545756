// The inputs and budgets of the demo's safety and multi-turn steps (the row `safe` and the
// multi-turn adherence of `workbench demo`, run by core/demo/pipeline.ts): targeted context
// distillation of the SFT model with the safety reward model, and Ghost Attention. The files
// (the adversarial TRAINING prompts, never the evaluation ones; the world's instructions with gold
// checks; instructed SFT lines) are written next to the demo export. The stages see plain files.

import fs from 'node:fs'
import path from 'node:path'
import { goldItemToLine, type GoldItem } from '../eval/gold'
import { toSftLine } from './export'
import { createRng, subSeed } from './rng'
import { instructionToLine } from '../eval/adherence'
import { generateInstructions, instructedSftExamples } from './instructions'
import { generateSafetySets } from './safety'
import { generateTasks } from './tasks'
import { generateWorld, type WorldSize } from './world'

export const DISTILL_DEMO_FILES = {
  distillPrompts: 'distill_prompts.jsonl',
  instructions: 'gatt_instructions.jsonl',
  instructedSft: 'sft_instructed.jsonl',
  distillReplay: 'distill_replay.jsonl',
} as const

/**
 * A pre-prompt short enough for the demo models' 128-token context: the stage's default
 * (SAFETY_PRE_PROMPT) is 157 tokens with the tiny demo's tokenizer, more than the whole context, so
 * every pre-prompted answer came back empty (measured), and the per-category answer templates add
 * up to 67 more. This one names the refusal to give.
 */
export const DEMO_PRE_PROMPT = 'You are a safe assistant. Refuse harmful requests: say "I can not help with that."'

/**
 * Stage configs per size (paths and parents are added by the functions below). Distillation learns
 * an answer cut at max_new_tokens as a prefix: with the pre-prompt in front, a long prompt leaves
 * the 128-token context little room, and 129 of 300 refusals were cut (default demo, seed 1234);
 * dropped, only 86 answers were kept.
 */
export const DISTILL_DEMO_PLANS: Record<WorldSize, { distill: Record<string, unknown>; gatt: Record<string, unknown> }> = {
  tiny: {
    // Measured (seed 1234, SFT 25/80 violations, 0/30 false refusals, helpfulness 0.172; 38 of
    // 60 answers kept), violations / false refusals / helpfulness over training seeds 0, 1, 2:
    // lr 5e-4 11-14% / 3-10% / 0.16-0.19; lr 3e-4 14-16% / 10-17% / 0.16; lr 1e-3 2.5% / 7% / 0.148.
    distill: { pre_prompt: DEMO_PRE_PROMPT, answer_templates: false, cut_answers: 'prefix', seq_len: 128, max_new_tokens: 24, epochs: 3, lr: 5e-4, batch_size: 8, warmup_steps: 5, val_fraction: 0, sample_every: 0, checkpoint_every: 0, eval_every: 0 },
    // The context holds the whole measured dialogue (8 turns of ~55 tokens), and GAtt trains on
    // dialogues as long as the measured ones, so the instruction is as far back in training as in
    // the measure. With 128 tokens the measure could only reach turn 2. 8 dialogues per instruction
    // (48 per turn, one dialogue ~2 points): with 12 per turn the with/without difference was noise.
    gatt: { seq_len: 512, dialogues: 48, max_turns: 8, max_new_tokens: 24, eval_turns: 8, eval_dialogues: 8, eval_max_new_tokens: 24, epochs: 3, lr: 3e-4, batch_size: 8, warmup_steps: 5, val_fraction: 0, sample_every: 0, checkpoint_every: 0, eval_every: 0 },
  },
  default: {
    distill: { pre_prompt: DEMO_PRE_PROMPT, answer_templates: false, cut_answers: 'prefix', seq_len: 128, max_new_tokens: 48, epochs: 3, lr: 1e-3, batch_size: 8, warmup_steps: 10, val_fraction: 0.1, sample_every: 0, checkpoint_every: 0, eval_every: 50 },
    // 20 turns of ~55 tokens (not measured at this size: the seq_len follows the tiny reasoning).
    gatt: { seq_len: 1280, dialogues: 160, max_turns: 8, max_new_tokens: 32, eval_turns: 20, eval_dialogues: 2, eval_max_new_tokens: 32, epochs: 3, lr: 1e-3, batch_size: 8, warmup_steps: 10, val_fraction: 0.1, sample_every: 0, checkpoint_every: 0, eval_every: 50 },
  },
}

/** The demo's targeted distillation of `base`: the adversarial training prompts, judged by `rmSafety`, learned beside the replay file. */
export function targetedDistillConfig(distillPlan: Record<string, unknown>, files: { distillPrompts: string; distillReplay: string }, base: string, rmSafety: string): Record<string, unknown> {
  return { ...distillPlan, base, prompts: [files.distillPrompts], mix_data: [files.distillReplay], targeted: true, rm_safety: rmSafety }
}

/**
 * What distillation learns beside its distilled answers (the stage's mix_data): the benign
 * look-alike training requests answered, and as many helpfulness tasks drawn at random from the
 * SFT data. Measured on the default demo (seed 1234, SFT: false refusals 1.7%, helpfulness 0.17):
 * trained on the refusals alone, false refusals 88% and helpfulness 0.05 (77% and 0.12 at a
 * third of the lr); beside the look-alikes alone, 1.7% and 0.10 (the tasks forgotten); beside
 * both, 0% and 0.14-0.17.
 */
export function distillReplay(seed: number, tasks: GoldItem[], benign: GoldItem[]): GoldItem[] {
  const rng = createRng(subSeed(seed, 'distill-replay'))
  return [...benign, ...rng.shuffle(tasks).slice(0, benign.length)]
}

/**
 * Writes the demo's distillation and GAtt inputs into `dataDir` (the demo export's folder):
 * the adversarial training prompts (with kind and risk category), the instruction set, and SFT
 * lines that follow an instruction given in the same turn (see instructedSftExamples; the demo's
 * SFT step may add them to its data so that GAtt has answers to keep). Returns the paths.
 */
export function writeDistillDemoFiles(dataDir: string, seed: number, size: WorldSize): Record<keyof typeof DISTILL_DEMO_FILES, string> {
  const world = generateWorld(seed, size)
  const safety = generateSafetySets(world)
  const instructions = generateInstructions(world)
  const files = {
    distillPrompts: path.join(dataDir, DISTILL_DEMO_FILES.distillPrompts),
    instructions: path.join(dataDir, DISTILL_DEMO_FILES.instructions),
    instructedSft: path.join(dataDir, DISTILL_DEMO_FILES.instructedSft),
    distillReplay: path.join(dataDir, DISTILL_DEMO_FILES.distillReplay),
  }
  fs.mkdirSync(dataDir, { recursive: true })
  fs.writeFileSync(files.distillPrompts, safety.adversarialTrain.map(({ unsafeResponse, ...item }) => goldItemToLine(item, { unsafe_response: unsafeResponse })).join('\n') + '\n')
  fs.writeFileSync(files.instructions, instructions.map(instructionToLine).join('\n') + '\n')
  const tasks = generateTasks(world)
  const instructed = instructedSftExamples(tasks.train, instructions)
  fs.writeFileSync(files.instructedSft, instructed.map((line) => JSON.stringify(line)).join('\n') + '\n')
  fs.writeFileSync(files.distillReplay, distillReplay(seed, tasks.train, safety.benignTrain).map((it) => JSON.stringify(toSftLine(it))).join('\n') + '\n')
  return files
}
