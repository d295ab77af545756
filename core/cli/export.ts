// `workbench export --model <run|checkpoint> --format gguf|llama2c [--dtype f32|f16|q8_0] --out FILE`
import { initBackend, backendPreference } from '../backend'
import { exportModel, type ExportFormat } from '../interchange/exportModel'
import { GGUF_DTYPES, type GgufDtype } from '../interchange/ggufLlama'
import { resolveHome } from '../tracking/home'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench export --model <run|checkpoint> --format gguf|llama2c [--dtype f32|f16|q8_0] --out FILE',
  '',
  '  gguf     one file for llama.cpp, Ollama and LM Studio: weights, tokenizer and chat template.',
  '           --dtype f32 (default, exact), f16 or q8_0 (8-bit blocks; norms stay f32).',
  '  llama2c  llama2.c\'s model .bin (version 1 header) and tokenizer.bin beside it. Needs a',
  '           Llama-style tokenizer (tokenizer train --set style=llama).',
  '',
  'The file is recorded as an export of the run the model came from.',
].join('\n')

const FORMATS: ExportFormat[] = ['gguf', 'llama2c']

export async function runExportCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, { ...COMMON_OPTIONS, model: { type: 'string' }, format: { type: 'string' }, dtype: { type: 'string' }, out: { type: 'string' } }, 'export')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  if (args.positionals.length > 0) throw new UsageError(`export: unexpected argument "${args.positionals[0]}"`)
  if (typeof v.model !== 'string') throw new UsageError('export: --model <run id or checkpoint folder> is required')
  if (typeof v.out !== 'string') throw new UsageError('export: --out FILE is required')
  const format = (v.format ?? 'gguf') as ExportFormat
  if (!FORMATS.includes(format)) throw new UsageError(`export: --format must be one of ${FORMATS.join(', ')}, got "${v.format}"`)
  const dtype = (v.dtype ?? 'f32') as GgufDtype
  if (!GGUF_DTYPES.includes(dtype)) throw new UsageError(`export: --dtype must be one of ${GGUF_DTYPES.join(', ')}, got "${v.dtype}"`)
  if (format === 'llama2c' && v.dtype !== undefined && dtype !== 'f32') throw new UsageError('export: llama2.c version 1 files are float32 only; leave out --dtype')

  await initBackend(backendPreference(v.backend as string | undefined))
  const result = await exportModel(resolveHome(v.home as string | undefined), { model: v.model, format, dtype, out: v.out })
  if (v.json) {
    io.out(jsonLine({ type: 'export', format, dtype: format === 'gguf' ? dtype : 'f32', files: result.files, bytes: result.bytes, run_id: result.runId ?? null, checkpoint: result.checkpointDir, notes: result.notes }))
    return 0
  }
  for (const note of result.notes) io.err(`note: ${note}`)
  io.out(`exported ${result.checkpointDir} as ${format} (${(result.bytes / 1e6).toFixed(2)} MB):`)
  for (const file of result.files) io.out(`  ${file}`)
  return 0
}
