// `workbench import-hf <folder>`: validate a Hugging Face Llama folder and record it as a checkpoint.
import { initBackend, backendPreference } from '../backend'
import { importHfFolder } from '../jobs/importHf'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench import-hf <folder> [--name NAME] [--experiment NAME] [--home DIR] [--json]',
  '',
  'Validates a Hugging Face Llama folder (config.json, model.safetensors or shards with model.safetensors.index.json,',
  'tokenizer.json or a SentencePiece tokenizer.model, which is converted to tokenizer.json), converts it into a',
  'workbench checkpoint (float32 model.safetensors, config.json, tokenizer files) in the workbench home and records',
  'it as a run with that checkpoint. Then:',
  '  workbench sft --base <printed run id> --data chat.jsonl',
].join('\n')

export async function runImportHfCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, name: { type: 'string' }, experiment: { type: 'string' } }, 'import-hf')
  if (args.values.help) {
    io.out(USAGE)
    return 0
  }
  const [folder, extra] = args.positionals
  if (!folder) throw new UsageError('import-hf: which folder? Usage: workbench import-hf <folder>')
  if (extra) throw new UsageError(`import-hf: unexpected argument "${extra}"`)
  const home = resolveHome(args.values.home as string | undefined)
  await initBackend(backendPreference(args.values.backend as string | undefined))
  const result = await importHfFolder(home, folder, { name: args.values.name as string | undefined, experiment: args.values.experiment as string | undefined })
  if (args.values.json) {
    io.out(jsonLine({ type: 'summary', run_id: result.runId, status: 'finished', checkpoint: result.checkpointDir, n_params: result.nParams, vocab_size: result.vocabSize, warnings: result.warnings }))
    return 0
  }
  for (const w of result.warnings) io.err(`warning: ${w}`)
  io.out(`imported ${folder} as run ${result.runId} (${result.nParams.toLocaleString('en-US')} parameters, vocabulary ${result.vocabSize})`)
  io.out(`  checkpoint: ${result.checkpointDir}`)
  io.out(`  fine-tune it: workbench sft --base ${result.runId} --data <file.jsonl>`)
  return 0
}
