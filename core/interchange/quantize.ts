// Number formats for exported weights: IEEE half precision (f16) and ggml's Q8_0 blocks. Both
// follow ggml's reference code exactly (round to nearest even for f16; Q8_0 scale = amax / 127,
// values rounded half away from zero), so a file we write holds what llama.cpp's own converter
// would write for the same float32 weights.

/** One float32 -> IEEE 754 binary16 bits, round to nearest even (overflow -> inf, NaN kept). */
export function float32ToFloat16Bits(value: number): number {
  const f32 = new Float32Array(1)
  const u32 = new Uint32Array(f32.buffer)
  f32[0] = value
  const x = u32[0]
  const sign = (x >>> 16) & 0x8000
  const exponent = (x >>> 23) & 0xff
  let mantissa = x & 0x7fffff
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0) // inf or NaN
  const e = exponent - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00 // too large: inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, then round to nearest even.
    if (e < -10) return sign
    mantissa |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    const rest = mantissa & ((1 << shift) - 1)
    let bits = mantissa >>> shift
    if (rest > half || (rest === half && (bits & 1) === 1)) bits += 1
    return sign | bits
  }
  // Normal: keep 10 mantissa bits, round to nearest even (a carry may bump the exponent, correctly).
  const rest = mantissa & 0x1fff
  let bits = (e << 10) | (mantissa >>> 13)
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits += 1
  return sign | bits
}

/** float32 values -> little-endian f16 bytes. */
export function toFloat16Bytes(values: Float32Array): Buffer {
  const out = Buffer.alloc(values.length * 2)
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(float32ToFloat16Bits(values[i]), i * 2)
  return out
}

export function toFloat32Bytes(values: Float32Array): Buffer {
  const out = Buffer.alloc(values.length * 4)
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4)
  return out
}

/** Values per Q8_0 block, and bytes per block (an f16 scale + 32 int8). */
export const Q8_0_BLOCK = 32
export const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK

/**
 * ggml's Q8_0 (quantize_row_q8_0_ref): each run of 32 values becomes a scale d = max|x| / 127
 * (stored as f16) and 32 int8 q = round(x / d). Rows must be a multiple of 32 long, which the
 * caller checks (the length of `values` must be too).
 */
export function toQ8_0Bytes(values: Float32Array): Buffer {
  if (values.length % Q8_0_BLOCK !== 0) throw new Error(`Q8_0: ${values.length} values is not a multiple of ${Q8_0_BLOCK}`)
  const blocks = values.length / Q8_0_BLOCK
  const out = Buffer.alloc(blocks * Q8_0_BLOCK_BYTES)
  for (let b = 0; b < blocks; b++) {
    const start = b * Q8_0_BLOCK
    let amax = 0
    for (let i = 0; i < Q8_0_BLOCK; i++) amax = Math.max(amax, Math.abs(values[start + i]))
    const d = Math.fround(amax / 127)
    const inverse = d !== 0 ? Math.fround(1 / d) : 0
    const at = b * Q8_0_BLOCK_BYTES
    out.writeUInt16LE(float32ToFloat16Bits(d), at)
    for (let i = 0; i < Q8_0_BLOCK; i++) out.writeInt8(roundHalfAwayFromZero(Math.fround(values[start + i] * inverse)), at + 2 + i)
  }
  return out
}

/** C's roundf (halves away from zero), unlike Math.round (halves up). */
function roundHalfAwayFromZero(x: number): number {
  return Math.sign(x) * Math.round(Math.abs(x))
}
