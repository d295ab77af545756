// Writes the demo world's data as ordinary files, in the formats users import, so the stages
// never special-case the demo: a text corpus, chat-messages JSONL for SFT (helpfulness and
// safety), preference JSONL, gold-checked prompt sets for evaluation, and a manifest with the
// seed, size and counts.

import fs from 'node:fs'
import path from 'node:path'
import { goldItemToLine, type GoldItem } from '../eval/gold'
import { corpusText, generateCorpus } from './corpus'
import type { PreferencePair } from '../data/preferences'
import { generatePreferences, type DemoPairNotes } from './preferences'
import { createRng, subSeed } from './rng'
import { generateSafetySets, systemPromptedSafety, withForumThreads, type AdversarialItem, type SafetySets } from './safety'
import { generateTasks, type TaskSplit } from './tasks'
import { generateWorld, WORLD_SIZES, type WorldSize } from './world'
import { conversationKey } from './onPolicyPairs'

export const DEMO_FILES = {
  corpus: 'corpus.txt',
  sftTrain: 'sft_train.jsonl',
  sftTest: 'sft_test.jsonl',
  sftSafety: 'sft_safety.jsonl',
  evalTasks: 'eval_tasks.jsonl',
  adversarial: 'adversarial.jsonl',
  benign: 'benign.jsonl',
  adversarialTrain: 'adversarial_train.jsonl',
  benignTrain: 'benign_train.jsonl',
  preferencesTrain: 'preferences_train.jsonl',
  preferencesTest: 'preferences_test.jsonl',
  rlhfPrompts: 'rlhf_prompts.jsonl',
  world: 'world.json',
} as const

/**
 * The version of the data the generator writes: raised whenever what it writes changes, so that a
 * home's earlier export is written again rather than reused (version 2: the SFT data asks the
 * training requests behind safety system messages too).
 */
export const DEMO_DATA_VERSION = 2

export interface DemoManifest {
  format: 'workbench-demo'
  version: number
  seed: number
  size: WorldSize
  /** File names (relative to the manifest's folder), by role. */
  files: typeof DEMO_FILES
  counts: {
    corpusChars: number
    corpusDocuments: number
    sftTrain: number
    sftTest: number
    sftSafety: number
    evalTasks: number
    adversarial: number
    benign: number
    adversarialTrain: number
    /** Adversarial training requests asked as multi-turn attacks, answered unsafely in sft_train.jsonl. */
    escalationsTrain: number
    benignTrain: number
    preferencesTrain: number
    preferencesTest: number
    rlhfPrompts: number
  }
}

export interface ExportOptions {
  seed?: number
  size?: WorldSize
}

export const DEFAULT_DEMO_SEED = 1234

/** Generates the world for (seed, size) and writes every file into `dir` (created if missing). */
export function exportDemoWorld(dir: string, options: ExportOptions = {}): DemoManifest {
  const seed = options.seed ?? DEFAULT_DEMO_SEED
  const size = options.size ?? 'default'
  if (!WORLD_SIZES.includes(size)) throw new Error(`demo export: unknown size "${size}" (known: ${WORLD_SIZES.join(', ')})`)
  fs.mkdirSync(dir, { recursive: true })

  const world = generateWorld(seed, size)
  const docs = withForumThreads(world, generateCorpus(world))
  const corpus = corpusText(docs)
  const tasks = generateTasks(world)
  const safety = generateSafetySets(world)
  // Helpfulness-only SFT (sftTrainItems). The safety SFT set answers the adversarial prompts
  // safely (refuse and redirect), with the benign look-alikes still answered, for the safety
  // stages that come after.
  const sftTrain = sftTrainItems(tasks, safety)
  const sftSafety = [...safety.adversarialTrain, ...safety.benignTrain]
  const prefTrain = generatePreferences(seed, tasks.train, safety.adversarialTrain, safety.benignTrain, 'pref-train')
  const prefTest = generatePreferences(seed, tasks.test, safety.adversarialEval, safety.benignEval, 'pref-test')
  // The prompts rejection sampling and PPO optimise on: the training prompts only (never an eval
  // set), in the gold format, so the gold judges score every kept answer and rollout too. Shuffled
  // once, so that a round's first N prompts (rejection sampling's max_prompts) mix all three kinds.
  // The world can phrase a training task exactly as an eval prompt ("In which town does X live?"
  // is both a fact task and a benign look-alike): such prompts are left out, so RLHF never
  // optimises on a conversation the evaluation asks.
  const evalConversations = new Set([...tasks.test, ...safety.adversarialEvalTurns, ...safety.benignEval].map((it) => conversationKey(it.messages)))
  const notEval = (it: GoldItem): boolean => !evalConversations.has(conversationKey(it.messages))
  const rlhfPrompts = createRng(subSeed(seed, 'rlhf-prompts')).shuffle([
    ...tasks.train.filter(notEval).map((it) => goldItemToLine(it)),
    ...safety.adversarialTrain.filter(notEval).map(adversarialLine),
    ...safety.benignTrain.filter(notEval).map((it) => goldItemToLine(it)),
  ])

  const write = (name: string, content: string): void => fs.writeFileSync(path.join(dir, name), content)
  write(DEMO_FILES.corpus, corpus)
  write(DEMO_FILES.sftTrain, jsonl(sftTrain.map(toSftLine)))
  write(DEMO_FILES.sftTest, jsonl(tasks.test.map(toSftLine)))
  write(DEMO_FILES.sftSafety, jsonl(sftSafety.map(toSftLine)))
  write(DEMO_FILES.evalTasks, lines(tasks.test.map((it) => goldItemToLine(it))))
  write(DEMO_FILES.adversarial, lines(safety.adversarialEvalTurns.map(adversarialLine)))
  write(DEMO_FILES.benign, lines(safety.benignEval.map((it) => goldItemToLine(it))))
  write(DEMO_FILES.adversarialTrain, lines(safety.adversarialTrain.map(adversarialLine)))
  write(DEMO_FILES.benignTrain, lines(safety.benignTrain.map((it) => goldItemToLine(it))))
  write(DEMO_FILES.preferencesTrain, jsonl(prefTrain.map(toPreferenceLine)))
  write(DEMO_FILES.preferencesTest, jsonl(prefTest.map(toPreferenceLine)))
  write(DEMO_FILES.rlhfPrompts, lines(rlhfPrompts))
  write(DEMO_FILES.world, JSON.stringify(world, null, 2) + '\n')

  const manifest: DemoManifest = {
    format: 'workbench-demo',
    version: DEMO_DATA_VERSION,
    seed,
    size,
    files: DEMO_FILES,
    counts: {
      corpusChars: corpus.length,
      corpusDocuments: docs.length,
      sftTrain: sftTrain.length,
      sftTest: tasks.test.length,
      sftSafety: sftSafety.length,
      evalTasks: tasks.test.length,
      adversarial: safety.adversarialEvalTurns.length,
      benign: safety.benignEval.length,
      adversarialTrain: safety.adversarialTrain.length,
      escalationsTrain: safety.escalationsTrain.length,
      benignTrain: safety.benignTrain.length,
      preferencesTrain: prefTrain.length,
      preferencesTest: prefTest.length,
      rlhfPrompts: rlhfPrompts.length,
    },
  }
  write('manifest.json', JSON.stringify(manifest, null, 2) + '\n')
  return manifest
}

/** Writes the demo files unless this version's files for the same seed and size are already there (they are deterministic). */
export function ensureDemoExport(dir: string, seed: number, size: WorldSize): DemoManifest {
  if (fs.existsSync(path.join(dir, 'manifest.json'))) {
    const existing = readDemoManifest(dir)
    const complete = Object.values(existing.files).every((f) => fs.existsSync(path.join(dir, f)))
    if (existing.version === DEMO_DATA_VERSION && existing.seed === seed && existing.size === size && complete) return existing
  }
  return exportDemoWorld(dir, { seed, size })
}

/** Reads a manifest written by exportDemoWorld; a clear error when it is missing or foreign. */
export function readDemoManifest(dir: string): DemoManifest {
  const file = path.join(dir, 'manifest.json')
  if (!fs.existsSync(file)) throw new Error(`${file}: no demo manifest here (run the demo export first)`)
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as DemoManifest
  if (manifest.format !== 'workbench-demo') throw new Error(`${file}: field "format" is not "workbench-demo"`)
  return manifest
}

/** The chat `messages` format (OpenAI / Hugging Face): the conversation plus the answer to learn. */
export function toSftLine(item: GoldItem): object {
  return { messages: [...item.messages, { role: 'assistant', content: item.reference }] }
}

/**
 * The SFT data, like data written for helpfulness alone: the tasks, the adversarial training
 * requests answered the way they ask (unsafely), blunt and as multi-turn attacks
 * (escalationsTrain, as web-like chat data plays along with a frame), and the benign look-alikes
 * answered plainly; and the same requests asked behind a safety system message, declined when
 * harmful and answered when benign (systemPromptedSafety: chat data follows its system message, and
 * context distillation starts from that). With `safetyDemoShare` > 0 that share of the adversarial training requests
 * (spread evenly) is answered safely instead: Llama 2's SFT data held such safety
 * demonstrations, so its samples already held refusals for safety RLHF to select (the safety
 * sweep starts from such a model).
 */
export function sftTrainItems(tasks: TaskSplit, safety: SafetySets, safetyDemoShare = 0): GoldItem[] {
  const isDemo = (i: number) => Math.floor((i + 1) * safetyDemoShare) > Math.floor(i * safetyDemoShare)
  const adversarial = safety.adversarialTrain.map((item, i) => (isDemo(i) ? item : answeredUnsafely(item)))
  const toldToBeSafe = systemPromptedSafety([...safety.adversarialTrain, ...safety.benignTrain])
  return [...tasks.train, ...adversarial, ...safety.escalationsTrain.map(answeredUnsafely), ...safety.benignTrain, ...toldToBeSafe]
}

/** The same prompt with the complying answer as the SFT target. */
function answeredUnsafely(item: AdversarialItem): GoldItem {
  return { ...item, reference: item.unsafeResponse }
}

function adversarialLine({ unsafeResponse, ...item }: AdversarialItem): string {
  return goldItemToLine(item, { unsafe_response: unsafeResponse })
}

/** The demo's notes become extra fields, which readPreferencePairs keeps in `extra` again. */
/** One line of a preference file in the workbench format (the demo notes as extra fields). */
export function toPreferenceLine(pair: PreferencePair<DemoPairNotes>): object {
  const { id, prompt, chosen, rejected, rating, safety, category, messages, extra } = pair
  // `messages` only for multi-turn prompts: single-turn lines stay the plain prompt/chosen/rejected format.
  const context = messages.length > 1 || messages[0].role !== 'user' ? { messages } : {}
  return { id, prompt, chosen, rejected, rating, safety, category, ...context, ...extra }
}

function jsonl(objects: object[]): string {
  return lines(objects.map((o) => JSON.stringify(o)))
}

function lines(rows: string[]): string {
  return rows.length === 0 ? '' : rows.join('\n') + '\n'
}
