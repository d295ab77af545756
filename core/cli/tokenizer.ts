// `workbench tokenizer train --data <file|folder> [--vocab-size N] [--out tokenizer.json]`.
import path from 'node:path'
import type { CliIO } from './io'
import { existingPaths, UsageError } from './args'
import { runStageCommand, type StageCommand } from './stageCommand'

export const tokenizerTrainCommand: StageCommand = {
  command: 'tokenizer train',
  stage: 'tokenizer',
  usage: [
    'Usage: workbench tokenizer train --data <file|folder> [--data ...] [--vocab-size N] [--out tokenizer.json] [options]',
    '',
    'Trains a byte-level BPE tokenizer (digits split, byte fallback, chat special tokens), recorded as a run;',
    'its tokenizer.json is in the run folder, and also at --out when given.',
  ].join('\n'),
  options: {
    data: { type: 'string', multiple: true },
    'vocab-size': { type: 'string' },
    out: { type: 'string' },
  },
  toConfig: (args) => {
    const vocab = args.values['vocab-size'] as string | undefined
    if (vocab !== undefined && !/^\d+$/.test(vocab)) throw new UsageError(`tokenizer train: --vocab-size must be a whole number, got "${vocab}"`)
    return {
      data: existingPaths(args.values.data, '--data'),
      vocab_size: vocab !== undefined ? Number(vocab) : undefined,
      out: args.values.out !== undefined ? path.resolve(args.values.out as string) : undefined,
    }
  },
}

export async function runTokenizerCommand(argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'train') return runStageCommand(tokenizerTrainCommand, rest, io)
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out('Usage: workbench tokenizer train --data <file|folder> [options]   (see `workbench tokenizer train --help`)')
    return sub === undefined ? 2 : 0
  }
  throw new UsageError(`tokenizer: unknown subcommand "${sub}" (known: train)`)
}
