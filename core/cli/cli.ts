// The `workbench` command line: a thin dispatcher over one small file per command. Errors a user
// can fix (bad flags, bad config, bad data) are printed as one clear message, never a stack trace.
import { ConfigError } from '../config/schema'
import { UsageError } from './args'
import type { CliIO } from './io'
import type { StageDefinition } from '../train/stages/types'

type Command = (argv: string[], io: CliIO) => Promise<number>

// Commands that are not stages load lazily, so `workbench runs list` does not pay for loading
// TensorFlow.js. Stage commands (pretrain, sft, tokenizer train, gold-eval ...) come from the stage
// registry: each StageDefinition with a `cli` is a command.
const COMMANDS: Record<string, { run: Command; summary: string }> = {
  generate: {
    run: async (argv, io) => (await import('./generate')).runGenerateCommand(argv, io),
    summary: 'generate --model <run|ckpt> --prompt ..  stream a generation from a model',
  },
  score: {
    run: async (argv, io) => (await import('./score')).runScoreCommand(argv, io),
    summary: 'score --model <rm> --data <file>       reward model scores (and accuracy on pairs)',
  },
  runs: {
    run: async (argv, io) => (await import('./runs')).runRunsCommand(argv, io),
    summary: 'runs list|show|compare|export|delete   the recorded runs',
  },
  cancel: {
    run: async (argv, io) => (await import('./cancel')).runCancelCommand(argv, io),
    summary: 'cancel <run>                           stop a running run (checkpoint, then stopped), whoever started it',
  },
  resume: {
    run: async (argv, io) => (await import('./resume')).runResumeCommand(argv, io),
    summary: 'resume <run>                           continue a stopped or interrupted run',
  },
  'import-hf': {
    run: async (argv, io) => (await import('./importHf')).runImportHfCommand(argv, io),
    summary: 'import-hf <folder>                     record a Hugging Face Llama folder as a checkpoint',
  },
  merge: {
    run: async (argv, io) => (await import('./merge')).runMergeCommand(argv, io),
    summary: 'merge --adapter <run|folder> --out DIR  fold a LoRA adapter into its base: a full checkpoint',
  },
  export: {
    run: async (argv, io) => (await import('./export')).runExportCommand(argv, io),
    summary: 'export --model <run|ckpt> --format gguf  a model for llama.cpp (gguf) or llama2.c (llama2c)',
  },
  'export-job': {
    run: async (argv, io) => (await import('./exportJob')).runExportJobCommand(argv, io),
    summary: 'export-job <run> --target trl --out DIR  a bundle that runs the stage on a cluster (trl|llamafactory)',
  },
  'import-job': {
    run: async (argv, io) => (await import('./importJob')).runImportJobCommand(argv, io),
    summary: 'import-job <dir>                       record a cluster run (trainer_state.json) as a run',
  },
  leaderboard: {
    run: async (argv, io) => (await import('./leaderboard')).runLeaderboardCommand(argv, io),
    summary: 'leaderboard [--json]                   models ranked by all win-rate comparisons (Bradley-Terry)',
  },
  prefs: {
    run: async (argv, io) => (await import('./prefs')).runPrefsCommand(argv, io),
    summary: 'prefs export|list                      preference datasets: write one as JSONL, list them',
  },
  'safety-report': {
    run: async (argv, io) => (await import('./safetyReport')).runSafetyReportCommand(argv, io),
    summary: 'safety-report <run>... --out f.html|csv  compare safety_eval runs (bars, intervals)',
  },
  rlhf: {
    run: async (argv, io) => (await import('./rlhf')).runRlhfCommand(argv, io),
    summary: 'rlhf --policy <sft run> --prompts <f>   RLHF rounds V1, V2 ... (rejection sampling, PPO)',
  },
  demo: {
    run: async (argv, io) => (await import('../demo/cli')).runDemoCommand(argv, io),
    summary: 'demo [--size tiny]                     the built-in demo pipeline',
  },
}

async function stageCommands(): Promise<StageDefinition[]> {
  const { listStages } = await import('../train/stages/registry')
  return listStages().filter((s) => s.cli)
}

export async function usage(): Promise<string> {
  const stages = await stageCommands()
  return [
    'Usage: workbench <command> [options]     (workbench <command> --help for details)',
    '',
    'Commands:',
    ...stages.map((s) => `  ${s.cli!.summary}`),
    ...Object.values(COMMANDS).map((c) => `  ${c.summary}`),
    '',
    'Every command takes --home DIR (default: WORKBENCH_HOME or the per-user app-data folder).',
  ].join('\n')
}

/** Runs one command line; returns the process exit code. */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv
  try {
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      io.out(await usage())
      return name === undefined ? 2 : 0
    }
    const command = COMMANDS[name]
    if (command) return await command.run(rest, io)
    const { stageForCommand } = await import('../train/stages/registry')
    const found = stageForCommand(argv)
    if (found) return await (await import('./stageCommand')).runStageCommand(found.stage, found.rest, io)
    // The first word of a longer stage command (`workbench tokenizer`): name its subcommands.
    const group = (await stageCommands()).map((s) => s.cli!.command).filter((c) => c.startsWith(`${name} `))
    if (group.length > 0) {
      const sub = rest[0]
      if (sub === undefined || sub === '--help' || sub === '-h') {
        io.out(group.map((c) => `Usage: workbench ${c} [options]   (see \`workbench ${c} --help\`)`).join('\n'))
        return sub === undefined ? 2 : 0
      }
      throw new UsageError(`${name}: unknown subcommand "${sub}" (known: ${group.map((c) => c.slice(name.length + 1)).join(', ')})`)
    }
    io.err(`workbench: unknown command "${name}"\n\n${await usage()}`)
    return 2
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
