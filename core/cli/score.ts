// `workbench score --model <reward run|checkpoint> --data <file>`: a reward model's score of each
// item. A pairs file (HH, TRL or workbench preference JSONL) gets both answers scored and the
// accuracy (chosen above rejected); a responses file (JSONL with "response" and "prompt" or
// "messages") gets one score per response.
import { initBackend, backendPreference } from '../backend'
import type { ChatMessage } from '../data/chatTemplate'
import { DataError } from '../data/errors'
import { readPreferenceList } from '../data/preferences/read'
import { readContextMessages } from '../data/prompts'
import { readRecords, recordValue, requireString } from '../data/records'
import { scoreConversations, type ScoreItem } from '../eval/rewardScore'
import { resolveModelRef } from '../jobs/checkpoints'
import { encodeForScoring } from '../train/rewardData'
import { loadModel } from '../model/load'
import { resolveHome } from '../tracking/home'
import { Store } from '../tracking/store'
import { COMMON_OPTIONS, parseCommandArgs, UsageError } from './args'
import type { CliIO } from './io'
import { jsonLine } from './watchRun'

const USAGE = [
  'Usage: workbench score --model <reward run|checkpoint> --data <file> [--batch-size 8] [--json]',
  '',
  'A pairs file (preference JSONL: HH, TRL or workbench) prints both scores of every pair and the accuracy',
  '(how often the chosen answer scores higher). A responses file (JSONL with "response" and "prompt" or a',
  '"messages" conversation ending with the user turn) prints one score per response.',
].join('\n')

const OPTIONS = {
  ...COMMON_OPTIONS,
  model: { type: 'string' as const },
  data: { type: 'string' as const },
  'batch-size': { type: 'string' as const },
}

/** A responses file: one conversation and response per line. */
export function readResponses(file: string): (ScoreItem & { id: string })[] {
  return readRecords(file).map((record, i) => {
    const value = recordValue(record)
    const answer = requireString(value, 'response', record.where, { allowEmpty: true })
    const messages: ChatMessage[] =
      value.messages !== undefined ? readContextMessages(value.messages, record.where) : [{ role: 'user', content: requireString(value, 'prompt', record.where) }]
    return { id: typeof value.id === 'string' ? value.id : String(i + 1), messages, answer }
  })
}

/** True when the file's first record is a preference pair (has chosen and rejected). */
function isPairsFile(file: string): boolean {
  const first = readRecords(file).find((r) => 'value' in r)
  if (!first || !('value' in first)) throw new DataError({ file }, 'no JSON object in the file')
  return 'chosen' in first.value && 'rejected' in first.value
}

export async function runScoreCommand(argv: string[], io: CliIO): Promise<number> {
  const args = parseCommandArgs(argv, OPTIONS, 'score')
  const v = args.values
  if (v.help) {
    io.out(USAGE)
    return 0
  }
  if (typeof v.model !== 'string') throw new UsageError('score: --model <reward run id or checkpoint folder> is required')
  if (typeof v.data !== 'string') throw new UsageError('score: --data <pairs or responses file> is required')
  const batchSize = v['batch-size'] === undefined ? 8 : Number(v['batch-size'])
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`score: --batch-size must be a whole number >= 1, got "${v['batch-size'] as string}"`)
  const store = Store.open(resolveHome(v.home as string | undefined))
  let dir: string
  try {
    dir = resolveModelRef(store, v.model, '--model').checkpointDir
  } finally {
    store.close()
  }
  await initBackend(backendPreference(v.backend as string | undefined))
  const loaded = loadModel(dir, { heads: ['reward'], scoringOnly: true })
  try {
    const rm = { model: loaded.model, head: loaded.heads.reward! }
    const score = (items: ScoreItem[]) => scoreConversations(rm, loaded.tokenizer, items, batchSize)
    // An answer longer than the model's context cannot be scored whole: such items are skipped and counted.
    const fits = (messages: ChatMessage[], answer: string) => encodeForScoring(loaded.tokenizer, messages, answer, loaded.model.config.max_seq_len) !== null
    const reportSkipped = (skipped: number, what: string) => {
      if (skipped > 0) io.err(`score: ${skipped} ${what} skipped: an answer is longer than the model's context of ${loaded.model.config.max_seq_len} tokens`)
    }
    if (isPairsFile(v.data)) {
      const all = (await readPreferenceList(v.data)).list
      const pairs = all.filter((p) => fits(p.messages, p.chosen) && fits(p.messages, p.rejected))
      reportSkipped(all.length - pairs.length, 'pair(s)')
      const chosen = await score(pairs.map((p) => ({ messages: p.messages, answer: p.chosen })))
      const rejected = await score(pairs.map((p) => ({ messages: p.messages, answer: p.rejected })))
      const right = pairs.map((_, i) => chosen[i] > rejected[i])
      const accuracy = right.filter(Boolean).length / pairs.length
      pairs.forEach((p, i) => {
        const item = { id: p.id, chosen: chosen[i], rejected: rejected[i], right: right[i] }
        io.out(v.json ? jsonLine(item) : `${p.id}\tchosen ${chosen[i].toFixed(4)}\trejected ${rejected[i].toFixed(4)}\t${right[i] ? 'right' : 'WRONG'}`)
      })
      io.out(v.json ? jsonLine({ pairs: pairs.length, skipped: all.length - pairs.length, accuracy }) : `${pairs.length} pairs, accuracy ${(100 * accuracy).toFixed(1)}%`)
    } else {
      const all = readResponses(v.data)
      const items = all.filter((item) => fits(item.messages, item.answer))
      reportSkipped(all.length - items.length, 'response(s)')
      const scores = await score(items)
      items.forEach((item, i) => io.out(v.json ? jsonLine({ id: item.id, score: scores[i] }) : `${item.id}\t${scores[i].toFixed(4)}`))
    }
    return 0
  } finally {
    loaded.dispose()
  }
}
