// `workbench sft --base <run|checkpoint> --data <file>`: supervised fine-tuning on instructions.
import path from 'node:path'
import type { CliIO } from './io'
import { absoluteIfPath } from './pretrain'
import { runStageCommand, type StageCommand } from './stageCommand'

export const sftCommand: StageCommand = {
  command: 'sft',
  stage: 'sft',
  usage: [
    'Usage: workbench sft --base <run|checkpoint> --data <file.jsonl> [--format auto|alpaca|messages|sharegpt|prompt_response] [options]',
    '',
    '--base is a pretraining (or SFT) run id, a workbench checkpoint folder, or an imported Hugging Face',
    'Llama folder (see `workbench import-hf`). The loss is on assistant tokens only.',
  ].join('\n'),
  options: {
    base: { type: 'string' },
    data: { type: 'string' },
    format: { type: 'string' },
  },
  toConfig: (args) => ({
    base: args.values.base !== undefined ? absoluteIfPath(args.values.base as string) : undefined,
    data: args.values.data !== undefined ? path.resolve(args.values.data as string) : undefined,
    format: args.values.format,
  }),
}

export function runSftCommand(argv: string[], io: CliIO): Promise<number> {
  return runStageCommand(sftCommand, argv, io)
}
