// `workbench pretrain --data <file|folder> ...`: pretrain a Llama from scratch (or continue one
// at a longer context with --from).
import path from 'node:path'
import { existingPaths } from './args'
import type { CliIO } from './io'
import { runStageCommand, type StageCommand } from './stageCommand'

export const pretrainCommand: StageCommand = {
  command: 'pretrain',
  stage: 'pretrain',
  usage: [
    'Usage: workbench pretrain --data <file|folder> [--data ...] [--tokenizer tokenizer.json] [--model tiny|small]',
    '                          [--from <run|checkpoint> --set seq_len=256] [options]',
    '',
    'Without --tokenizer, a tokenizer is trained on the data first. Without --model, the tiny preset.',
  ].join('\n'),
  options: {
    data: { type: 'string', multiple: true },
    tokenizer: { type: 'string' },
    model: { type: 'string' },
    from: { type: 'string' },
  },
  toConfig: (args) => ({
    data: existingPaths(args.values.data, '--data'),
    tokenizer: args.values.tokenizer !== undefined ? path.resolve(args.values.tokenizer as string) : undefined,
    model: args.values.model,
    init_from: args.values.from !== undefined ? absoluteIfPath(args.values.from as string) : undefined,
  }),
}

/** A run id stays as it is; anything that looks like a path becomes absolute (the worker's cwd differs). */
export function absoluteIfPath(ref: string): string {
  return ref.includes('/') || ref.includes('\\') || ref.startsWith('.') ? path.resolve(ref) : ref
}

export function runPretrainCommand(argv: string[], io: CliIO): Promise<number> {
  return runStageCommand(pretrainCommand, argv, io)
}
