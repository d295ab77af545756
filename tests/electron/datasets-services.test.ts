// Datasets through the real services and the web server: the list with detected formats (the
// home's datasets and the demo's exports), the whole-file inspection, and uploads streamed over
// HTTP into <home>/datasets (suffix on a taken name, clear refusals, nothing left behind).
import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServices, type Services } from '../../electron/server/services'
import { EventHub } from '../../electron/server/eventHub'
import { startWebServer, type WebServer } from '../../electron/server/web'
import { dispatch } from '../../electron/shared/api'
import { uploadName } from '../../electron/server/services/datasets'

let home: string
let services: Services
let server: WebServer
const call = (method: string, args: unknown = {}) => dispatch(services.handlers, method, args) as Promise<any>
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + '\n'

const SFT = jsonl([
  { messages: [{ role: 'user', content: 'Who sees the dog?' }, { role: 'assistant', content: 'The cat.' }] },
  { messages: [{ role: 'user', content: 'Hi' }] },
])

beforeAll(async () => {
  home = fs.mkdtempSync(join(tmpdir(), 'wb-datasets-'))
  fs.mkdirSync(join(home, 'datasets'), { recursive: true })
  fs.writeFileSync(join(home, 'datasets', 'animals.txt'), 'The cat sees the dog.\nThe dog sees the fox.\n')
  fs.writeFileSync(join(home, 'datasets', 'chat.jsonl'), SFT)
  const demo = join(home, 'demo', 'tiny-seed1')
  fs.mkdirSync(demo, { recursive: true })
  fs.writeFileSync(join(demo, 'preferences_train.jsonl'), jsonl([{ prompt: 'Hi', chosen: 'Hello!', rejected: 'Go.' }]))
  fs.writeFileSync(join(demo, 'rlhf_prompts.jsonl'), jsonl([{ id: 'p1', prompt: 'Name a town.' }]))
  services = createServices({ home, emit: new EventHub().emit, mode: 'web', backend: 'cpu' })
  server = await startWebServer({ handlers: services.handlers, hub: new EventHub(), uploadDataset: services.uploadDataset })
})
afterAll(async () => {
  await server.close()
  await services.close()
  fs.rmSync(home, { recursive: true, force: true })
})

/** POSTs `chunks` one by one (a streamed body) to /upload/dataset. */
function upload(name: string, chunks: Buffer[], opts: { contentType?: string; token?: string; declared?: number; hangUp?: boolean } = {}): Promise<{ status: number; body: any }> {
  const length = opts.declared ?? chunks.reduce((n, c) => n + c.length, 0)
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: `/upload/dataset?name=${encodeURIComponent(name)}`,
        headers: { 'content-type': opts.contentType ?? 'application/octet-stream', 'content-length': length, 'x-workbench-token': opts.token ?? server.token },
      },
      (res) => {
        let text = ''
        res.on('data', (c) => (text += c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) : text }))
      },
    )
    req.on('error', reject)
    const writeNext = (i: number) => {
      if (i === chunks.length) return void (opts.hangUp ? setImmediate(() => req.destroy(new Error('hung up'))) : req.end())
      if (req.write(chunks[i])) writeNext(i + 1)
      else req.once('drain', () => writeNext(i + 1))
    }
    writeNext(0)
  })
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25))
}

function leftovers(): string[] {
  return fs.readdirSync(join(home, 'datasets')).filter((f) => f.startsWith('.'))
}

describe('datasets:list', () => {
  it('lists the home datasets and the demo exports, each with its detected format', async () => {
    const list = await call('datasets:list')
    const byName = Object.fromEntries(list.map((d: any) => [d.name, d]))
    expect(byName['animals.txt']).toMatchObject({ folder: 'datasets', format: 'text', readableAs: ['text'] })
    expect(byName['chat.jsonl']).toMatchObject({ folder: 'datasets', format: 'sft', readableAs: ['sft'], variant: 'messages', bytes: Buffer.byteLength(SFT) })
    expect(byName['preferences_train.jsonl']).toMatchObject({ folder: 'demo', format: 'preferences', readableAs: ['preferences', 'prompts'] })
    expect(byName['rlhf_prompts.jsonl']).toMatchObject({ folder: 'demo', format: 'prompts' })
  })
})

describe('datasets:inspect', () => {
  it('previews SFT with the chat template and loss mask, and names the bad line', async () => {
    const file = join(home, 'datasets', 'chat.jsonl')
    const r = await call('datasets:inspect', { path: file })
    expect(r).toMatchObject({ format: 'sft', counts: { records: 2, valid: 1 }, invalid: 1 })
    expect(r.errors).toEqual([`${file}:2: field "messages": has no assistant turn, so nothing to learn`])
    // No checkpoint in this home: a bytes-only tokenizer still shows the template and the mask.
    expect(r.tokenizer).toMatch(/bytes-only/)
    const trained = r.preview[0].segments.filter((s: any) => s.trained).map((s: any) => s.text)
    expect(trained).toEqual(['The cat.', '<|end|>'])
  })

  it('refuses a file outside the home like any other path', async () => {
    await expect(call('datasets:inspect', { path: '/etc/passwd' })).rejects.toThrow(/outside the workbench home/)
  })
})

describe('uploads', () => {
  it('streams a file in many chunks into <home>/datasets', async () => {
    const line = JSON.stringify({ prompt: 'Who sees the dog?', response: 'The cat sees the dog.' }) + '\n'
    const chunk = Buffer.from(line.repeat(2000))
    const chunks = Array.from({ length: 40 }, () => chunk) // about 5 MB
    const res = await upload('big sft.jsonl', chunks)
    expect(res.status).toBe(200)
    const saved = join(home, 'datasets', 'big sft.jsonl')
    expect(res.body.result).toMatchObject({ path: saved, name: 'big sft.jsonl', bytes: chunk.length * 40, format: 'sft', readableAs: ['sft', 'prompts'] })
    expect(fs.statSync(saved).size).toBe(chunk.length * 40)
    expect(leftovers()).toEqual([])
  })

  it('never overwrites: a taken name gets a suffix', async () => {
    const first = await upload('notes.txt', [Buffer.from('first')])
    const second = await upload('notes.txt', [Buffer.from('second')])
    const third = await upload('C:\\Users\\me\\notes.txt', [Buffer.from('third')])
    expect([first, second, third].map((r) => r.body.result.name)).toEqual(['notes.txt', 'notes-1.txt', 'notes-2.txt'])
    expect(fs.readFileSync(join(home, 'datasets', 'notes.txt'), 'utf8')).toBe('first')
    expect(fs.readFileSync(join(home, 'datasets', 'notes-1.txt'), 'utf8')).toBe('second')
    const gz = await upload('pairs.jsonl.gz', [Buffer.from('x')])
    const gz2 = await upload('pairs.jsonl.gz', [Buffer.from('y')])
    expect(gz2.body.result.name).toBe('pairs-1.jsonl.gz')
    expect(gz.body.result.format).toBeNull()
  })

  it('refuses what it cannot take, with a reason', async () => {
    const exe = await upload('tool.exe', [Buffer.from('MZ')])
    expect(exe).toMatchObject({ status: 400, body: { ok: false } })
    expect(exe.body.error).toMatch(/tool\.exe: not a data file; upload \.txt, .*\.jsonl/)
    const hidden = await upload('.bashrc', [Buffer.from('x')])
    expect(hidden.body.error).toMatch(/not a usable file name/)
    const wrongType = await upload('a.txt', [Buffer.from('x')], { contentType: 'text/plain' })
    expect(wrongType.status).toBe(415)
    const noToken = await upload('a.txt', [Buffer.from('x')], { token: 'wrong' })
    expect(noToken.status).toBe(401)
    expect(fs.existsSync(join(home, 'datasets', 'a.txt'))).toBe(false)
    expect(leftovers()).toEqual([])
  })

  it('keeps nothing of an upload that ends early', async () => {
    await expect(upload('cut.txt', [Buffer.from('only part')], { declared: 1000, hangUp: true })).rejects.toThrow(/hung up/)
    // The server notices the closed connection and removes the temporary file.
    await until(() => leftovers().length === 0)
    expect(fs.existsSync(join(home, 'datasets', 'cut.txt'))).toBe(false)
  })

  it('cleans names', () => {
    expect(uploadName('../../etc/x.jsonl')).toBe('x.jsonl')
    expect(uploadName('my data;rm -rf.txt')).toBe('my data_rm -rf.txt')
    expect(() => uploadName('')).toThrow(/not a usable file name/)
  })
})
