// The GGUF container (version 3), the file format of llama.cpp, Ollama and LM Studio:
//
//   "GGUF" magic, u32 version 3, u64 tensor count, u64 metadata count
//   metadata: key (u64 length + UTF-8), u32 value type, value (arrays: u32 item type, u64 count, items)
//   tensor infos: name, u32 n_dims, u64 dims (innermost first: ggml's ne[0] is the row length),
//                 u32 ggml type, u64 offset from the start of the data section
//   padding to `general.alignment` (32), then every tensor's data, each starting aligned
//
// Little-endian throughout. This file knows nothing about Llama; core/interchange/ggufLlama.ts
// says which tensors and keys a Llama model has.
import fs from 'node:fs'

export const GGUF_MAGIC = 'GGUF'
export const GGUF_VERSION = 3
export const GGUF_ALIGNMENT = 32

/** GGUF metadata value types (gguf.h). */
export const GgufType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7,
  STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const

/** The ggml tensor types we write (ggml.h). */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8 } as const
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType]

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: number[] }
  | { type: 'f32[]'; value: number[] }

export interface GgufTensor {
  name: string
  /** Row-major shape as we store it ([out, in] for a matrix); written reversed as ggml's ne. */
  shape: number[]
  type: GgmlTypeId
  data: Buffer
}

export interface GgufFile {
  /** Written in this order; keys must be unique. */
  metadata: Array<[string, GgufValue]>
  tensors: GgufTensor[]
}

/** Encodes a whole GGUF file (models here are small enough to build in memory). */
export function encodeGguf(file: GgufFile): Buffer {
  const keys = new Set<string>()
  for (const [key] of file.metadata) {
    if (keys.has(key)) throw new Error(`GGUF: metadata key "${key}" appears twice`)
    keys.add(key)
  }
  const parts: Buffer[] = [Buffer.from(GGUF_MAGIC, 'ascii'), u32(GGUF_VERSION), u64(file.tensors.length), u64(file.metadata.length)]
  for (const [key, value] of file.metadata) parts.push(ggufString(key), encodeValue(value))

  let offset = 0
  const offsets: number[] = []
  for (const t of file.tensors) {
    offsets.push(offset)
    parts.push(ggufString(t.name), u32(t.shape.length), ...[...t.shape].reverse().map(u64), u32(t.type), u64(offset))
    offset = alignUp(offset + t.data.length)
  }
  const headerLength = parts.reduce((n, p) => n + p.length, 0)
  parts.push(Buffer.alloc(alignUp(headerLength) - headerLength))
  file.tensors.forEach((t, i) => {
    const end = (offsets[i + 1] ?? alignUp(offsets[i] + t.data.length)) - offsets[i]
    parts.push(t.data, Buffer.alloc(end - t.data.length))
  })
  return Buffer.concat(parts)
}

export function writeGguf(filePath: string, file: GgufFile): number {
  const bytes = encodeGguf(file)
  fs.writeFileSync(filePath, bytes)
  return bytes.length
}

function alignUp(n: number): number {
  return Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt(n))
  return b
}

function i32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}

function f32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeFloatLE(n)
  return b
}

function ggufString(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  return Buffer.concat([u64(bytes.length), bytes])
}

function array(itemType: number, items: Buffer[]): Buffer {
  return Buffer.concat([u32(GgufType.ARRAY), u32(itemType), u64(items.length), ...items])
}

function encodeValue(v: GgufValue): Buffer {
  switch (v.type) {
    case 'u32':
      return Buffer.concat([u32(GgufType.UINT32), u32(v.value)])
    case 'i32':
      return Buffer.concat([u32(GgufType.INT32), i32(v.value)])
    case 'f32':
      return Buffer.concat([u32(GgufType.FLOAT32), f32(v.value)])
    case 'bool':
      return Buffer.concat([u32(GgufType.BOOL), Buffer.from([v.value ? 1 : 0])])
    case 'string':
      return Buffer.concat([u32(GgufType.STRING), ggufString(v.value)])
    case 'string[]':
      return array(GgufType.STRING, v.value.map(ggufString))
    case 'i32[]':
      return array(GgufType.INT32, v.value.map(i32))
    case 'f32[]':
      return array(GgufType.FLOAT32, v.value.map(f32))
  }
}
