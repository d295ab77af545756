// The safetensors file format (https://github.com/huggingface/safetensors), read and written
// without any tensor library so it can be tested byte by byte:
//
//   [8 bytes: header length N, unsigned little-endian]
//   [N bytes: JSON header, padded with spaces to a multiple of 8]
//   [data: each tensor's raw little-endian bytes at header[name].data_offsets = [begin, end)]
//
// The header maps tensor name -> { dtype, shape, data_offsets } plus an optional
// "__metadata__" object of string -> string. We write F32 (and I32); we read F32, F16, BF16 and
// F64 as float32, and I32 / I64 as int32. Hugging Face checkpoints are often F16 or BF16; the
// workbench trains in float32, so everything it loads becomes float32.

import fs from 'node:fs'
import os from 'node:os'

/** A tensor as plain data: float32 or int32 values in row-major order. */
export interface RawTensor {
  dtype: 'float32' | 'int32'
  shape: number[]
  data: Float32Array | Int32Array
}

/** One entry of a safetensors header, as stored in the file. */
export interface HeaderEntry {
  dtype: string
  shape: number[]
  data_offsets: [number, number]
}

export interface SafetensorsHeader {
  tensors: Record<string, HeaderEntry>
  metadata: Record<string, string>
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number
}

/** Bytes per element for every dtype the format defines (used to check offsets). */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
}

/** The dtypes this module can turn into a RawTensor. */
const READABLE = new Set(['F32', 'F16', 'BF16', 'F64', 'I32', 'I64'])

/** A header larger than this is surely a corrupt length field, not a real header. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024

function assertLittleEndianHost(): void {
  // Typed arrays use the host byte order; safetensors is little-endian. Every platform the
  // app ships on is little-endian, so we check once rather than swap bytes everywhere.
  if (os.endianness() !== 'LE') throw new Error('safetensors: big-endian hosts are not supported')
}

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Encodes tensors (float32 or int32) and optional string metadata into safetensors bytes.
 * Tensors are stored in name order so the same input always gives the same bytes.
 */
export function encodeSafetensors(tensors: Record<string, RawTensor>, metadata?: Record<string, string>): Buffer {
  const { header, names } = buildHeader(tensors, metadata)
  const chunks = names.map((name) => bytesOf(tensors[name].data))
  return Buffer.concat([lengthPrefix(header), header, ...chunks])
}

/**
 * Writes a safetensors file (to `path` directly; callers wanting atomicity write into a temp
 * folder). Tensor bytes go straight from their typed arrays to the file, with no full-file copy.
 */
export function writeSafetensors(path: string, tensors: Record<string, RawTensor>, metadata?: Record<string, string>): void {
  const { header, names } = buildHeader(tensors, metadata)
  const fd = fs.openSync(path, 'w')
  try {
    writeAll(fd, lengthPrefix(header))
    writeAll(fd, header)
    for (const name of names) writeAll(fd, bytesOf(tensors[name].data))
  } finally {
    fs.closeSync(fd)
  }
}

/** The padded JSON header and the tensor names in the order their data follows it. */
function buildHeader(tensors: Record<string, RawTensor>, metadata?: Record<string, string>): { header: Buffer; names: string[] } {
  assertLittleEndianHost()
  const names = Object.keys(tensors).sort()
  const header: Record<string, unknown> = {}
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw new Error(`safetensors: metadata "${key}" must be a string, got ${typeof value}`)
    }
    header.__metadata__ = metadata
  }
  let offset = 0
  for (const name of names) {
    const t = tensors[name]
    checkRawTensor(name, t)
    const bytes = t.data.byteLength
    header[name] = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, offset + bytes] }
    offset += bytes
  }
  return { header: paddedHeader(JSON.stringify(header)), names }
}

function lengthPrefix(header: Buffer): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigUInt64LE(BigInt(header.length), 0)
  return out
}

function bytesOf(data: Float32Array | Int32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done)
}

/** The JSON header padded with spaces so the data section starts 8-byte aligned. */
function paddedHeader(json: string): Buffer {
  const raw = Buffer.from(json, 'utf8')
  const padded = Math.ceil(raw.length / 8) * 8
  const out = Buffer.alloc(padded, 0x20)
  raw.copy(out)
  return out
}

function checkRawTensor(name: string, t: RawTensor): void {
  if (t.dtype !== 'float32' && t.dtype !== 'int32') throw new Error(`safetensors: tensor "${name}": cannot write dtype ${String(t.dtype)}`)
  const expected = t.shape.reduce((a, b) => a * b, 1)
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`safetensors: tensor "${name}": bad shape [${t.shape.join(', ')}]`)
  }
  if (t.data.length !== expected) {
    throw new Error(`safetensors: tensor "${name}": shape [${t.shape.join(', ')}] needs ${expected} values, got ${t.data.length}`)
  }
  const wantFloat = t.dtype === 'float32'
  if (wantFloat !== (t.data instanceof Float32Array)) {
    throw new Error(`safetensors: tensor "${name}": dtype ${t.dtype} does not match its ${t.data.constructor.name}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Parses and validates the header of safetensors bytes. `source` (usually the file path) is
 * named in every error. `totalBytes` is the full file size, used to check offsets.
 */
export function parseHeader(prefix: Uint8Array, totalBytes: number, source: string): SafetensorsHeader {
  if (totalBytes < 8 || prefix.length < 8) throw new Error(`${source}: not a safetensors file (shorter than 8 bytes)`)
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength)
  const headerLength = Number(view.getBigUint64(0, true))
  if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || 8 + headerLength > totalBytes) {
    throw new Error(`${source}: not a safetensors file (header length ${headerLength} does not fit a ${totalBytes}-byte file)`)
  }
  if (prefix.length < 8 + headerLength) throw new Error(`${source}: header truncated`)
  const text = Buffer.from(prefix.buffer, prefix.byteOffset + 8, headerLength).toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new Error(`${source}: safetensors header is not valid JSON (${(err as Error).message})`)
  }
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${source}: safetensors header is not a JSON object`)

  const dataStart = 8 + headerLength
  const dataBytes = totalBytes - dataStart
  const tensors: Record<string, HeaderEntry> = {}
  let metadata: Record<string, string> = {}
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(value, source)
      continue
    }
    tensors[name] = checkEntry(name, value, dataBytes, source)
  }
  return { tensors, metadata, dataStart }
}

function checkMetadata(value: unknown, source: string): Record<string, string> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source}: __metadata__ must be an object`)
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw new Error(`${source}: __metadata__.${key} must be a string`)
  }
  return value as Record<string, string>
}

function checkEntry(name: string, value: unknown, dataBytes: number, source: string): HeaderEntry {
  const where = `${source}: tensor "${name}"`
  const entry = value as Partial<HeaderEntry> | null
  if (!entry || typeof entry !== 'object') throw new Error(`${where}: header entry is not an object`)
  if (typeof entry.dtype !== 'string' || !(entry.dtype in DTYPE_BYTES)) {
    throw new Error(`${where}: unknown dtype ${JSON.stringify(entry.dtype)}`)
  }
  const shape = entry.shape
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: bad shape ${JSON.stringify(shape)}`)
  }
  const offsets = entry.data_offsets
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
    throw new Error(`${where}: bad data_offsets ${JSON.stringify(offsets)}`)
  }
  const [begin, end] = offsets
  const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[entry.dtype]
  if (end < begin || end - begin !== expected) {
    throw new Error(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${entry.dtype} [${shape.join(', ')}] needs ${expected}`)
  }
  if (end > dataBytes) {
    throw new Error(`${where}: data_offsets end ${end} is past the end of the data (${dataBytes} bytes; file truncated?)`)
  }
  return { dtype: entry.dtype, shape: [...shape], data_offsets: [begin, end] }
}

/**
 * Decodes every tensor of safetensors bytes (float types -> float32, integer types -> int32).
 * F32 and I32 data is a view into `bytes` where aligned (no copy): do not reuse `bytes` after.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  assertLittleEndianHost()
  const header = parseHeader(bytes, bytes.length, source)
  const tensors: Record<string, RawTensor> = {}
  for (const [name, entry] of Object.entries(header.tensors)) {
    const [begin, end] = entry.data_offsets
    const slice = bytes.subarray(header.dataStart + begin, header.dataStart + end)
    tensors[name] = decodeTensor(slice, entry, `${source}: tensor "${name}"`)
  }
  return { tensors, metadata: header.metadata }
}

/** Reads a whole safetensors file. */
export function readSafetensors(path: string): { tensors: Record<string, RawTensor>; metadata: Record<string, string> } {
  let bytes: Buffer
  try {
    bytes = fs.readFileSync(path)
  } catch (err) {
    throw new Error(`${path}: cannot read safetensors file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  }
  return decodeSafetensors(bytes, path)
}

/** Reads only the header of a safetensors file (names, dtypes, shapes) without loading the data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = fs.openSync(path, 'r')
  try {
    const size = fs.fstatSync(fd).size
    const lengthBytes = Buffer.alloc(8)
    fs.readSync(fd, lengthBytes, 0, Math.min(8, size), 0)
    const headerLength = size >= 8 ? Number(lengthBytes.readBigUInt64LE(0)) : 0
    const prefixLength = Math.min(size, 8 + Math.min(headerLength, MAX_HEADER_BYTES))
    const prefix = Buffer.alloc(prefixLength)
    fs.readSync(fd, prefix, 0, prefixLength, 0)
    return parseHeader(prefix, size, path)
  } finally {
    fs.closeSync(fd)
  }
}

function decodeTensor(bytes: Uint8Array, entry: HeaderEntry, where: string): RawTensor {
  const n = entry.shape.reduce((a, b) => a * b, 1)
  const { buffer, byteOffset } = alignedBytes(bytes, DTYPE_BYTES[entry.dtype])
  switch (entry.dtype) {
    case 'F32':
      return { dtype: 'float32', shape: entry.shape, data: new Float32Array(buffer, byteOffset, n) }
    case 'F64':
      return { dtype: 'float32', shape: entry.shape, data: Float32Array.from(new Float64Array(buffer, byteOffset, n)) }
    case 'F16':
      return { dtype: 'float32', shape: entry.shape, data: float16ToFloat32(new Uint16Array(buffer, byteOffset, n)) }
    case 'BF16':
      return { dtype: 'float32', shape: entry.shape, data: bfloat16ToFloat32(new Uint16Array(buffer, byteOffset, n)) }
    case 'I32':
      return { dtype: 'int32', shape: entry.shape, data: new Int32Array(buffer, byteOffset, n) }
    case 'I64':
      return { dtype: 'int32', shape: entry.shape, data: int64ToInt32(new BigInt64Array(buffer, byteOffset, n), where) }
    default:
      throw new Error(`${where}: dtype ${entry.dtype} is not supported (readable: ${[...READABLE].join(', ')})`)
  }
}

/**
 * Typed arrays need their offset to be a multiple of the element size. Writers pad the header to
 * 8 bytes so tensor data usually is aligned, and we view it in place; otherwise we copy it.
 */
function alignedBytes(bytes: Uint8Array, elementBytes: number): { buffer: ArrayBuffer; byteOffset: number } {
  if (bytes.byteOffset % elementBytes === 0) return { buffer: bytes.buffer as ArrayBuffer, byteOffset: bytes.byteOffset }
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return { buffer: copy.buffer, byteOffset: 0 }
}

/** bfloat16 is the top half of a float32, so widening is a 16-bit shift. */
export function bfloat16ToFloat32(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length)
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16
  return new Float32Array(bits.buffer)
}

/** IEEE 754 half precision -> float32, exact (every half value is representable in float32). */
export function float16ToFloat32(halves: Uint16Array): Float32Array {
  const out = new Float32Array(halves.length)
  for (let i = 0; i < halves.length; i++) out[i] = halfToNumber(halves[i])
  return out
}

function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exponent = (h >> 10) & 0x1f
  const fraction = h & 0x3ff
  if (exponent === 0) return sign * fraction * 2 ** -24 // zero and subnormals
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15)
}

function int64ToInt32(values: BigInt64Array, where: string): Int32Array {
  const out = new Int32Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v > 2147483647n || v < -2147483648n) throw new Error(`${where}: I64 value ${v} at index ${i} does not fit int32`)
    out[i] = Number(v)
  }
  return out
}
