// The `workbench` command line: a thin dispatcher over one small file per command. Errors a user
// can fix (bad flags, bad config, bad data) are printed as one clear message, never a stack trace.
import { ConfigError } from '../config/schema'
import { UsageError } from './args'
import type { CliIO } from './io'

type Command = (argv: string[], io: CliIO) => Promise<number>

// Commands load lazily, so `workbench runs list` does not pay for loading TensorFlow.js.
const COMMANDS: Record<string, { run: Command; summary: string }> = {
  tokenizer: {
    run: async (argv, io) => (await import('./tokenizer')).runTokenizerCommand(argv, io),
    summary: 'tokenizer train --data <file|folder>   train a BPE tokenizer',
  },
  pretrain: {
    run: async (argv, io) => (await import('./pretrain')).runPretrainCommand(argv, io),
    summary: 'pretrain --data <file|folder>          pretrain a small Llama (tiny preset by default)',
  },
  sft: {
    run: async (argv, io) => (await import('./sft')).runSftCommand(argv, io),
    summary: 'sft --base <run|checkpoint> --data <f>  supervised fine-tuning on instructions',
  },
  generate: {
    run: async (argv, io) => (await import('./generate')).runGenerateCommand(argv, io),
    summary: 'generate --model <run|ckpt> --prompt ..  stream a generation from a model',
  },
  runs: {
    run: async (argv, io) => (await import('./runs')).runRunsCommand(argv, io),
    summary: 'runs list|show|compare|export|delete   the recorded runs',
  },
  resume: {
    run: async (argv, io) => (await import('./resume')).runResumeCommand(argv, io),
    summary: 'resume <run>                           continue a stopped or interrupted run',
  },
  'import-hf': {
    run: async (argv, io) => (await import('./importHf')).runImportHfCommand(argv, io),
    summary: 'import-hf <folder>                     record a Hugging Face Llama folder as a checkpoint',
  },
  prefs: {
    run: async (argv, io) => (await import('./prefs')).runPrefsCommand(argv, io),
    summary: 'prefs import|export|list               preference datasets (HH-RLHF, TRL, workbench JSONL)',
  },
  demo: {
    run: async (argv, io) => (await import('../demo/cli')).runDemoCommand(argv, io),
    summary: 'demo [--size tiny]                     the built-in demo pipeline',
  },
}

export function usage(): string {
  return [
    'Usage: workbench <command> [options]     (workbench <command> --help for details)',
    '',
    'Commands:',
    ...Object.values(COMMANDS).map((c) => `  ${c.summary}`),
    '',
    'Every command takes --home DIR (default: WORKBENCH_HOME or the per-user app-data folder).',
  ].join('\n')
}

/** Runs one command line; returns the process exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    io.out(usage())
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  if (!command) {
    io.err(`workbench: unknown command "${name}"\n\n${usage()}`)
    return 2
  }
  try {
    return await command.run(rest, io)
  } catch (err) {
    io.err(`error: ${userMessage(err)}`)
    return err instanceof UsageError || err instanceof ConfigError ? 2 : 1
  }
}

/** The message to show: our own errors as they are; unexpected ones with their stack for a bug report. */
function userMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (process.env.WORKBENCH_DEBUG) return err.stack ?? err.message
  return err.message
}
