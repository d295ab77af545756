// Data files the page can choose from and look into: every dataset in <home>/datasets, the demo's
// exports under <home>/demo, the project's resources/prompts, and files picked with the native dialog
// (desktop only), each with the format its first record reads as; the whole-file inspection the
// Datasets screen shows (core/data/inspect.ts); and uploads streamed into <home>/datasets (web mode).

import fs from 'node:fs'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { pipeline } from 'node:stream/promises'
import { Transform, type Readable } from 'node:stream'
import { detectDataFile, inspectDataFile, isDatasetFileName, DATASET_EXTENSIONS } from '../../../core/data/inspect'
import { MIN_VOCAB_SIZE, Tokenizer } from '../../../core/tokenizer'
import { ApiError, type ApiHandlers, type DatasetInfo } from '../../shared/api'
import type { ServiceContext } from './context'
import { listCheckpoints } from './files'
import { repoRoot } from './system'

type Folder = NonNullable<DatasetInfo['folder']>

export function createDatasetHandlers(ctx: ServiceContext) {
  const { home, picked, options } = ctx
  return {
    'datasets:list': async () => listDatasets(home, picked),
    'datasets:inspect': async ({ path: file }) => {
      ctx.checkPathAllowed(file, 'path')
      const abs = path.resolve(file)
      if (!fs.existsSync(abs) || !fs.statSync(abs).isFile()) throw new ApiError(`${abs} is not a file`, 'not_found')
      const { tokenizer, name } = previewTokenizer(ctx)
      return inspectDataFile(abs, { tokenizer, tokenizerName: name })
    },
    'datasets:pick': async ({ title }) => {
      if (!options.pickFile) {
        throw new ApiError(`web mode has no file dialog: upload the file (Upload… or drop it on the field), or type the path of a file in ${path.join(home, 'datasets')}`)
      }
      const file = await options.pickFile(title ?? 'Pick a dataset')
      if (!file) return null
      const abs = path.resolve(file)
      picked.add(abs)
      return describeDataset(abs, 'picked')
    },
  } satisfies Partial<ApiHandlers>
}

/** The folders searched for datasets, and how deep. */
function datasetRoots(home: string): { dir: string; folder: Folder; depth: number }[] {
  return [
    { dir: path.join(home, 'datasets'), folder: 'datasets', depth: 3 },
    { dir: path.join(home, 'demo'), folder: 'demo', depth: 2 },
    // The demo prompt sets; the rest of resources/ (icons, default configs) is not data.
    { dir: path.join(repoRoot(), 'resources', 'prompts'), folder: 'resources', depth: 2 },
  ]
}

export async function listDatasets(home: string, picked: ReadonlySet<string>): Promise<DatasetInfo[]> {
  const found: { file: string; folder: Folder }[] = []
  for (const root of datasetRoots(home)) {
    for (const file of listFiles(root.dir, root.depth)) if (isDatasetFileName(file)) found.push({ file, folder: root.folder })
  }
  for (const file of picked) if (!found.some((f) => f.file === file) && fs.existsSync(file)) found.push({ file, folder: 'picked' })
  return Promise.all(found.map(({ file, folder }) => describeDataset(file, folder)))
}

async function describeDataset(file: string, folder: Folder): Promise<DatasetInfo> {
  const detection = await detectDataFile(file)
  return { path: file, name: path.basename(file), bytes: fs.statSync(file).size, folder, ...detection }
}

/** Files under root, hidden ones (and unfinished uploads) left out. */
function listFiles(root: string, depth: number): string[] {
  if (depth < 0 || !fs.existsSync(root)) return []
  const out: string[] = []
  for (const entry of fs.readdirSync(root, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.startsWith('.')) continue
    const full = path.join(root, entry.name)
    if (entry.isDirectory()) out.push(...listFiles(full, depth - 1))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

/**
 * The tokenizer an SFT preview is encoded with: that of the newest checkpoint (what fine-tuning
 * would most likely start from), else a bytes-only tokenizer, so the template and the loss mask
 * still show before any model exists.
 */
function previewTokenizer(ctx: ServiceContext): { tokenizer: Tokenizer; name: string } {
  for (const c of listCheckpoints(ctx.store)) {
    const file = path.join(c.path, 'tokenizer.json')
    if (!fs.existsSync(file)) continue
    try {
      return { tokenizer: loadCached(file), name: `the tokenizer of ${c.label}` }
    } catch {
      // An unreadable tokenizer: try the next checkpoint.
    }
  }
  // The smallest vocabulary: bytes and the specials, no merges (the text it trains on is irrelevant).
  bytesOnly ??= Tokenizer.train(['a'], { vocabSize: MIN_VOCAB_SIZE })
  return { tokenizer: bytesOnly, name: 'a bytes-only tokenizer (no checkpoint yet: a trained tokenizer splits text into fewer tokens)' }
}

let bytesOnly: Tokenizer | undefined
const tokenizers = new Map<string, { mtimeMs: number; tokenizer: Tokenizer }>()

function loadCached(file: string): Tokenizer {
  const mtimeMs = fs.statSync(file).mtimeMs
  const hit = tokenizers.get(file)
  if (hit && hit.mtimeMs === mtimeMs) return hit.tokenizer
  const tokenizer = Tokenizer.load(file)
  tokenizers.set(file, { mtimeMs, tokenizer })
  return tokenizer
}

// ---------------------------------------------------------------------------------------------
// Uploads (web mode): POST /upload/dataset?name=... streams the body here.

/** Largest upload accepted by default (the disk is the real limit). */
export const MAX_UPLOAD_BYTES = 16 * 1024 ** 3

export interface UploadOptions {
  /** The size the client declared (Content-Length); a shorter body is an interrupted upload. */
  declaredBytes?: number
  maxBytes?: number
}

/**
 * Streams `body` into <home>/datasets/<name>, never holding it whole in memory. The bytes go to a
 * hidden temporary file first and get their name only when complete; a name already taken gets a
 * suffix (data.jsonl -> data-1.jsonl), so nothing is ever overwritten. Errors name the file.
 */
export async function saveUploadedDataset(home: string, rawName: string, body: Readable, opts: UploadOptions = {}): Promise<DatasetInfo> {
  const name = uploadName(rawName)
  const maxBytes = opts.maxBytes ?? MAX_UPLOAD_BYTES
  if (opts.declaredBytes !== undefined && opts.declaredBytes > maxBytes) {
    throw new ApiError(`${name} is ${opts.declaredBytes} bytes; uploads are limited to ${maxBytes} bytes (copy larger files into ${path.join(home, 'datasets')} yourself)`, 'bad_request')
  }
  const dir = path.join(home, 'datasets')
  fs.mkdirSync(dir, { recursive: true })
  const temp = path.join(dir, `.upload-${randomBytes(6).toString('hex')}.part`)
  let received = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      received += chunk.length
      if (received > maxBytes) done(new ApiError(`${name}: the upload is over ${maxBytes} bytes`, 'bad_request'))
      else done(null, chunk)
    },
  })
  try {
    await pipeline(body, counter, fs.createWriteStream(temp, { flags: 'wx' }))
    if (opts.declaredBytes !== undefined && received !== opts.declaredBytes) {
      throw new ApiError(`${name}: the upload was interrupted after ${received} of ${opts.declaredBytes} bytes; nothing was saved`, 'bad_request')
    }
    const final = claimName(dir, name, temp)
    return await describeDataset(final, 'datasets')
  } catch (err) {
    throw uploadError(err, name, received)
  } finally {
    // Linked under its name (or failed): the temporary name goes either way.
    fs.rmSync(temp, { force: true })
  }
}

/** The file name part only, in characters every file system takes; a data file extension is required. */
export function uploadName(raw: string): string {
  const base = raw.split(/[\\/]/).pop()?.trim() ?? ''
  const name = base.replace(/[^\w.\- ()+@]/g, '_')
  if (name === '' || name.startsWith('.')) throw new ApiError(`"${raw}" is not a usable file name`, 'bad_request')
  if (name.length > 200) throw new ApiError(`the file name is ${name.length} characters long; rename it to at most 200`, 'bad_request')
  if (!isDatasetFileName(name)) throw new ApiError(`${name}: not a data file; upload ${DATASET_EXTENSIONS.join(', ')} files`, 'bad_request')
  return name
}

/** Links the finished temporary file under the first free name: name, name-1, name-2, ... */
function claimName(dir: string, name: string, temp: string): string {
  const ext = DATASET_EXTENSIONS.filter((e) => name.toLowerCase().endsWith(e)).sort((a, b) => b.length - a.length)[0]
  const stem = name.slice(0, name.length - ext.length)
  for (let k = 0; k < 10_000; k++) {
    const candidate = path.join(dir, k === 0 ? name : `${stem}-${k}${ext}`)
    try {
      // link() fails when the name exists, so two uploads of one name never overwrite each other.
      fs.linkSync(temp, candidate)
      return candidate
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  throw new ApiError(`${name}: 10000 files of this name already exist in ${dir}`, 'conflict')
}

function uploadError(err: unknown, name: string, received: number): Error {
  if (err instanceof ApiError) return err
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOSPC') return new ApiError(`${name}: the disk is full after ${received} bytes; nothing was saved`, 'internal')
  if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET') {
    return new ApiError(`${name}: the upload was interrupted after ${received} bytes; nothing was saved`, 'bad_request')
  }
  return new ApiError(`${name}: the upload failed after ${received} bytes (${(err as Error).message}); nothing was saved`, 'internal')
}
