// The command line through runCli (the same code bin/workbench.mjs runs), with a real worker for
// the training commands.
import { describe, it, expect, beforeAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCli } from '../../core/cli/cli'
import { bufferIO } from '../../core/cli/io'
import { Store } from '../../core/tracking/store'

const TEXT = Array.from({ length: 50 }, (_, i) => `Note ${i}: remember to water the plants and feed the cat ${i % 5} times.`).join('\n')
const TINY = ['--set', 'dim=32', '--set', 'n_layers=2', '--set', 'seq_len=32', '--set', 'batch_size=4', '--set', 'vocab_size=300',
  '--set', 'max_steps=6', '--set', 'log_every=2', '--set', 'eval_every=3', '--set', 'sample_tokens=4', '--set', 'checkpoint_every=3']

let home: string
let notes: string

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-cli-'))
  notes = path.join(home, 'notes.txt')
  fs.writeFileSync(notes, TEXT)
})

async function cli(argv: string[]) {
  const io = bufferIO()
  const code = await runCli(argv, io)
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n'), lines: io.stdout }
}

describe('workbench CLI', () => {
  let runId = ''

  it('pretrain --json prints one JSON object per logged step and evaluation, then a summary', async () => {
    const { code, lines, stderr } = await cli(['pretrain', '--data', notes, '--home', home, '--backend', 'wasm', '--json', ...TINY])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const objects = lines.map((l) => JSON.parse(l))
    expect(objects[0]).toMatchObject({ type: 'run', stage: 'pretrain' })
    runId = objects[0].run_id
    const train = objects.filter((o) => o.type === 'metric' && 'train/loss' in o)
    expect(train.map((o) => o.step)).toEqual([2, 4, 6])
    const evals = objects.filter((o) => o.type === 'metric' && 'eval/loss' in o)
    expect(evals.map((o) => o.step)).toEqual([3, 6])
    const summary = objects[objects.length - 1]
    expect(summary).toMatchObject({ type: 'summary', run_id: runId, status: 'finished', steps: 6 })
    expect(typeof summary.eval_loss).toBe('number')
    expect(fs.existsSync(path.join(summary.checkpoint, 'model.safetensors'))).toBe(true)
  }, 120_000)

  it('generate streams from a run id; import-hf records a checkpoint folder as a run', async () => {
    const gen = await cli(['generate', '--model', runId, '--prompt', 'Note', '--max-tokens', '5', '--home', home, '--backend', 'wasm', '--json'])
    expect(gen.stderr).toBe('')
    const out = JSON.parse(gen.lines[0])
    expect(out.type).toBe('generation')
    expect(out.tokens).toBeGreaterThan(0)

    const ckpt = path.join(home, 'runs', runId, 'checkpoints', 'step-0000006')
    const imported = await cli(['import-hf', ckpt, '--name', 'my-import', '--home', home, '--backend', 'wasm', '--json'])
    expect(imported.code).toBe(0)
    const result = JSON.parse(imported.lines[0])
    expect(result).toMatchObject({ type: 'summary', status: 'finished' })
    const plain = await cli(['generate', '--model', result.run_id, '--prompt', 'Note', '--max-tokens', '3', '--seed', '1', '--home', home, '--backend', 'wasm'])
    expect(plain.code).toBe(0)
    expect(plain.stdout.startsWith('Note')).toBe(true)
  }, 120_000)

  it('continues pretraining at a longer context as a new run whose parent is the shorter one', async () => {
    const { code, lines } = await cli(['pretrain', '--data', notes, '--from', runId, '--home', home, '--backend', 'wasm', '--json',
      '--set', 'seq_len=48', '--set', 'batch_size=2', '--set', 'max_steps=2', '--set', 'eval_every=2', '--set', 'sample_count=0'])
    expect(code).toBe(0)
    const objects = lines.map((l) => JSON.parse(l))
    const summary = objects[objects.length - 1]
    expect(summary).toMatchObject({ status: 'finished', seq_len: 48 })
    const config = JSON.parse(fs.readFileSync(path.join(summary.checkpoint, 'config.json'), 'utf8'))
    expect(config.max_position_embeddings).toBe(48)
    const store = Store.open(home)
    const run = store.getRun(summary.run_id)
    store.close()
    expect(run.parents).toEqual([expect.objectContaining({ runId, role: 'continue' })])
  }, 120_000)

  it('sft --base <run id> fine-tunes that run\'s checkpoint and records it as the parent', async () => {
    const qa = path.join(home, 'qa.jsonl')
    fs.writeFileSync(qa, ['water the plants', 'feed the cat'].map((t) => JSON.stringify({ instruction: `What should I do? (${t})`, output: t })).join('\n'))
    const { code, lines, stderr } = await cli(['sft', '--base', runId, '--data', qa, '--preset', 'tiny', '--home', home, '--backend', 'wasm', '--json',
      '--set', 'max_steps=3', '--set', 'batch_size=2', '--set', 'sample_count=1', '--set', 'sample_tokens=3'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    const summary = JSON.parse(lines[lines.length - 1])
    expect(summary).toMatchObject({ status: 'finished', steps: 3, examples: 2 })
    const store = Store.open(home)
    const run = store.getRun(summary.run_id)
    store.close()
    expect(run.parents).toEqual([expect.objectContaining({ runId, role: 'base' })])
    expect(run.config.base).toBe(runId)
  }, 120_000)

  it('Ctrl-C cancels gracefully: checkpoint, status stopped, exit code 130, and resume finishes it', async () => {
    const io = bufferIO()
    let interrupted = false
    const out = io.out
    io.out = (line) => {
      out(line)
      // The first logged step stands in for the user pressing Ctrl-C.
      if (!interrupted && line.includes('"train/loss"')) {
        interrupted = true
        process.emit('SIGINT')
      }
    }
    const code = await runCli(['pretrain', '--data', notes, '--home', home, '--backend', 'wasm', '--json', ...TINY, '--set', 'max_steps=40'], io)
    expect(code).toBe(130)
    const summary = JSON.parse(io.stdout[io.stdout.length - 1])
    expect(summary).toMatchObject({ type: 'summary', status: 'stopped' })
    expect(summary.steps).toBeLessThan(40)
    expect(fs.existsSync(path.join(summary.checkpoint, 'trainer_state.json'))).toBe(true)
    const resumed = await cli(['resume', summary.run_id, '--home', home, '--backend', 'wasm', '--json'])
    expect(resumed.code).toBe(0)
    expect(JSON.parse(resumed.lines[resumed.lines.length - 1])).toMatchObject({ status: 'finished', steps: 40 })
  }, 180_000)

  it('config mistakes are one clear message and exit code 2, before any run starts', async () => {
    const unknown = await cli(['pretrain', '--data', notes, '--home', home, '--set', 'max_stepz=10'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^error: invalid --set:\n {2}- max_stepz: unknown key/)
    expect(unknown.stderr).not.toMatch(/at .*\.ts:\d+/)
    const wrongType = await cli(['pretrain', '--data', notes, '--home', home, '--set', 'max_steps=lots'])
    expect(wrongType.code).toBe(2)
    expect(wrongType.stderr).toMatch(/max_steps: expected a number, got "lots"/)
    const flag = await cli(['pretrain', '--dta', notes, '--home', home])
    expect(flag.code).toBe(2)
    expect(flag.stderr).toMatch(/pretrain: Unknown option '--dta'/)
    const missing = await cli(['pretrain', '--home', home])
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/data: is required/)
    const noFile = await cli(['sft', '--base', runId, '--data', path.join(home, 'nope.jsonl'), '--home', home])
    expect(noFile.code).toBe(2)
    expect(noFile.stderr).toMatch(/--data .*nope\.jsonl: no such file or folder/)
  })

  it('names what is wrong with --base, --model, resume and the command', async () => {
    const base = await cli(['sft', '--base', 'no-such-run', '--data', notes, '--home', home])
    expect(base.code).toBe(1)
    expect(base.stderr).toMatch(/base no-such-run: neither a checkpoint folder nor the id of a recorded run/)
    const model = await cli(['generate', '--model', home, '--prompt', 'x', '--home', home])
    expect(model.stderr).toMatch(/--model .*: the folder has no config\.json and model\.safetensors/)
    const resume = await cli(['resume', 'zzz', '--home', home])
    expect(resume.code).toBe(1)
    expect(resume.stderr).toMatch(/zzz/)
    const finished = await cli(['resume', runId, '--home', home])
    expect(finished.stderr).toMatch(/is finished; only stopped, interrupted or failed runs can be resumed/)
    const nope = await cli(['pretrian'])
    expect(nope.code).toBe(2)
    expect(nope.stderr).toMatch(/unknown command "pretrian"/)
  })

  it('--help of each command lists its options and config keys', async () => {
    const help = await cli(['pretrain', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/--set KEY=VALUE/)
    expect(help.stdout).toMatch(/max_steps +int/)
    expect(help.stdout).toMatch(/Presets \(--preset\): tiny, small/)
    for (const command of [['sft'], ['tokenizer', 'train'], ['generate'], ['resume'], ['import-hf']]) {
      const r = await cli([...command, '--help'])
      expect(r.code, command.join(' ')).toBe(0)
      expect(r.stdout, command.join(' ')).toMatch(/Usage: workbench/)
    }
  })
})
