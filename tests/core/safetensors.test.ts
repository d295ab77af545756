import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  encodeSafetensors,
  decodeSafetensors,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  float16ToFloat32,
  bfloat16ToFloat32,
  type RawTensor,
} from '../../core/model/safetensors'
import { torchRef } from '../fixtures/hf/torch'
import { describeWith } from '../references'

let dir: string
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-safetensors-'))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

function f32(shape: number[], values: number[]): RawTensor {
  return { dtype: 'float32', shape, data: Float32Array.from(values) }
}

/** Builds a file by hand: a header object and raw data bytes. */
function handMade(header: Record<string, unknown>, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  return Buffer.concat([len, json, data])
}

describe('safetensors write/read', () => {
  it('round-trips float32 bit-exactly, including NaN payloads, -0, infinities and subnormals', () => {
    const bits = Uint32Array.from([0x7fc00001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001, 0x3f800000])
    const odd: RawTensor = { dtype: 'float32', shape: [2, 3], data: new Float32Array(bits.buffer) }
    const random = f32([4, 7], Array.from({ length: 28 }, () => Math.random() * 2 - 1))
    const ints: RawTensor = { dtype: 'int32', shape: [3], data: Int32Array.from([-2147483648, 0, 2147483647]) }
    const scalar = f32([], [3.5])
    const empty = f32([0, 4], [])
    const file = path.join(dir, 'round.safetensors')
    writeSafetensors(file, { odd, random, ints, scalar, empty }, { format: 'pt', note: 'hi' })
    const back = readSafetensors(file)
    expect(back.metadata).toEqual({ format: 'pt', note: 'hi' })
    expect(new Uint32Array(back.tensors.odd.data.buffer, back.tensors.odd.data.byteOffset, 6)).toEqual(bits)
    expect(back.tensors.random.data).toEqual(random.data)
    expect(back.tensors.random.shape).toEqual([4, 7])
    expect(back.tensors.ints).toEqual(ints)
    expect(back.tensors.scalar.shape).toEqual([])
    expect(Array.from(back.tensors.scalar.data)).toEqual([3.5])
    expect(back.tensors.empty.shape).toEqual([0, 4])
  })

  it('pads the header so the data section is 8-byte aligned, and is deterministic', () => {
    const tensors = { b: f32([1], [1]), a: f32([2], [2, 3]) }
    const bytes = encodeSafetensors(tensors, { format: 'pt' })
    const headerLength = Number(bytes.readBigUInt64LE(0))
    expect(headerLength % 8).toBe(0)
    const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString())
    expect(header.a.data_offsets).toEqual([0, 8]) // name order
    expect(header.b.data_offsets).toEqual([8, 12])
    expect(encodeSafetensors(tensors, { format: 'pt' })).toEqual(bytes)
  })

  it('reads only the header when asked', () => {
    const file = path.join(dir, 'header.safetensors')
    writeSafetensors(file, { w: f32([2, 3], [1, 2, 3, 4, 5, 6]) })
    const header = readSafetensorsHeader(file)
    expect(header.tensors.w).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] })
    expect(header.metadata).toEqual({})
  })

  it('widens float16 and bfloat16 exactly', () => {
    // 1, -2, 65504 (max half), smallest subnormal, -0, inf, NaN
    const half = float16ToFloat32(Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e00]))
    expect(Array.from(half.slice(0, 4))).toEqual([1, -2, 65504, 2 ** -24])
    expect(Object.is(half[4], -0)).toBe(true)
    expect(half[5]).toBe(Infinity)
    expect(half[6]).toBeNaN()
    const bf = bfloat16ToFloat32(Uint16Array.from([0x3f80, 0xc040, 0x7f80]))
    expect(Array.from(bf)).toEqual([1, -3, Infinity])
  })

  it('reads F16, BF16, F64 and I64 from a hand-made file', () => {
    const data = Buffer.alloc(4 + 4 + 8 + 16)
    data.writeUInt16LE(0x3c00, 0) // f16 1
    data.writeUInt16LE(0xbc00, 2) // f16 -1
    data.writeUInt16LE(0x4040, 4) // bf16 3
    data.writeUInt16LE(0x3f00, 6) // bf16 0.5
    data.writeDoubleLE(0.25, 8)
    data.writeBigInt64LE(-7n, 16)
    data.writeBigInt64LE(123456789n, 24)
    const bytes = handMade({
      h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [4, 8] },
      d: { dtype: 'F64', shape: [1], data_offsets: [8, 16] },
      i: { dtype: 'I64', shape: [2], data_offsets: [16, 32] },
    }, data)
    const { tensors } = decodeSafetensors(bytes, 'hand.safetensors')
    expect(Array.from(tensors.h.data)).toEqual([1, -1])
    expect(Array.from(tensors.b.data)).toEqual([3, 0.5])
    expect(Array.from(tensors.d.data)).toEqual([0.25])
    expect(tensors.i.dtype).toBe('int32')
    expect(Array.from(tensors.i.data)).toEqual([-7, 123456789])
  })
})

describe('safetensors errors name the file and the tensor', () => {
  it('rejects a file shorter than its header length', () => {
    const bytes = Buffer.alloc(16)
    bytes.writeBigUInt64LE(1000n)
    expect(() => decodeSafetensors(bytes, 'short.safetensors')).toThrow(/short\.safetensors: not a safetensors file \(header length 1000/)
  })

  it('rejects a header that is not JSON', () => {
    const json = Buffer.from('{not json')
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(json.length))
    expect(() => decodeSafetensors(Buffer.concat([len, json]), 'bad.safetensors')).toThrow(/bad\.safetensors: safetensors header is not valid JSON/)
  })

  it('rejects offsets that do not match the shape, or run past the data', () => {
    const wrongSize = handMade({ w: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 12] } }, Buffer.alloc(12))
    expect(() => decodeSafetensors(wrongSize, 'x.safetensors')).toThrow(/x\.safetensors: tensor "w": data_offsets \[0, 12\] hold 12 bytes but F32 \[2, 2\] needs 16/)
    const truncated = handMade({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8))
    expect(() => decodeSafetensors(truncated, 'y.safetensors')).toThrow(/y\.safetensors: tensor "w": data_offsets end 16 is past the end of the data \(8 bytes; file truncated\?\)/)
  })

  it('rejects unsupported dtypes and int64 values outside int32', () => {
    const u8 = handMade({ mask: { dtype: 'U8', shape: [2], data_offsets: [0, 2] } }, Buffer.alloc(2))
    expect(() => decodeSafetensors(u8, 'u.safetensors')).toThrow(/u\.safetensors: tensor "mask": dtype U8 is not supported/)
    const big = Buffer.alloc(8)
    big.writeBigInt64LE(2n ** 40n)
    const i64 = handMade({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, big)
    expect(() => decodeSafetensors(i64, 'i.safetensors')).toThrow(/i\.safetensors: tensor "ids": I64 value 1099511627776 at index 0 does not fit int32/)
    const weird = handMade({ t: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, Buffer.alloc(2))
    expect(() => decodeSafetensors(weird, 'w.safetensors')).toThrow(/w\.safetensors: tensor "t": unknown dtype "F12"/)
  })

  it('refuses to write a tensor whose data does not match its shape', () => {
    expect(() => encodeSafetensors({ w: f32([2, 2], [1, 2, 3]) })).toThrow(/tensor "w": shape \[2, 2\] needs 4 values, got 3/)
  })

  it('names a missing file', () => {
    expect(() => readSafetensors(path.join(dir, 'nope.safetensors'))).toThrow(/nope\.safetensors: cannot read safetensors file \(ENOENT\)/)
  })
})

describeWith('torch', 'safetensors against PyTorch', () => {
  it('reads what a PyTorch writer produced, with the same float32 values torch converts to', () => {
    const file = path.join(dir, 'torch.safetensors')
    const expected = torchRef<Record<string, { shape: number[]; values: number[] }>>(['write', file])
    const { tensors, metadata } = readSafetensors(file)
    expect(metadata).toEqual({ format: 'pt' })
    for (const [name, want] of Object.entries(expected)) {
      expect(tensors[name].shape, name).toEqual(want.shape)
      // f64 -> f32 rounding happens in both; every other value is exact.
      const wanted = tensors[name].dtype === 'int32' ? want.values : Array.from(Float32Array.from(want.values))
      expect(Array.from(tensors[name].data), name).toEqual(wanted)
    }
  })

  it('writes files an independent reader parses to the same values', () => {
    const file = path.join(dir, 'ours.safetensors')
    const w = f32([2, 3], [0.1, -0.2, 0.3, 1e-30, 3e38, -7])
    writeSafetensors(file, { w, ids: { dtype: 'int32', shape: [2], data: Int32Array.from([5, -5]) } }, { format: 'pt' })
    const back = torchRef<Record<string, { shape: number[]; values: number[] }>>(['read', file])
    expect(back.__metadata__).toEqual({ format: 'pt' })
    expect(back.w.values).toEqual(Array.from(w.data))
    expect(back.ids.values).toEqual([5, -5])
  })
})

describe('safetensors alignment', () => {
  it('reads F32 data at an offset that is not 4-byte aligned', () => {
    const data = Buffer.alloc(9)
    data.writeFloatLE(1.5, 1)
    data.writeFloatLE(-2.25, 5)
    const file = handMade({ w: { dtype: 'F32', shape: [2], data_offsets: [1, 9] } }, data)
    // A fresh buffer (offset 0), so the tensor's position in it is exactly its position in the file.
    const bytes = new Uint8Array(file.length)
    bytes.set(file)
    const dataStart = 8 + Number(file.readBigUInt64LE(0))
    expect((dataStart + 1) % 4).not.toBe(0)
    expect(Array.from(decodeSafetensors(bytes, 'odd.safetensors').tensors.w.data)).toEqual([1.5, -2.25])
  })
})
