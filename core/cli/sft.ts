// `workbench sft --base <run|checkpoint> --data <file>`: supervised fine-tuning on instructions.
import { existingPaths } from './args'
import type { CliIO } from './io'
import { absoluteIfPath } from './pretrain'
import { runStageCommand, type StageCommand } from './stageCommand'

export const sftCommand: StageCommand = {
  command: 'sft',
  stage: 'sft',
  usage: [
    'Usage: workbench sft --base <run|checkpoint> --data <file.jsonl> [--data ...] [options]',
    '',
    '--base is a pretraining (or SFT) run id, a workbench checkpoint folder, or an imported Hugging Face',
    'Llama folder (see `workbench import-hf`). Formats, detected per line: Alpaca (instruction/input/output),',
    'chat "messages", ShareGPT "conversations", prompt/response. The loss is on assistant tokens only.',
  ].join('\n'),
  options: {
    base: { type: 'string' },
    data: { type: 'string', multiple: true },
  },
  toConfig: (args) => ({
    base: args.values.base !== undefined ? absoluteIfPath(args.values.base as string) : undefined,
    data: existingPaths(args.values.data, '--data'),
  }),
}

export function runSftCommand(argv: string[], io: CliIO): Promise<number> {
  return runStageCommand(sftCommand, argv, io)
}
