// Metric values in SQLite. SQLite turns NaN into NULL, so every value travels with a kind code
// that keeps NaN, +Infinity and -Infinity distinguishable (see the metrics table).

export const VALUE_FINITE = 0
export const VALUE_NAN = 1
export const VALUE_POS_INF = 2
export const VALUE_NEG_INF = 3

export type ValueKind = 0 | 1 | 2 | 3

/** The (value, value_kind) pair to store for a number. Infinities are stored as themselves. */
export function encodeValue(x: number): [number | null, ValueKind] {
  if (Number.isNaN(x)) return [null, VALUE_NAN]
  if (x === Infinity) return [Infinity, VALUE_POS_INF]
  if (x === -Infinity) return [-Infinity, VALUE_NEG_INF]
  return [x, VALUE_FINITE]
}

/** The number a stored (value, value_kind) pair stands for. */
export function decodeValue(value: number | null, kind: number): number {
  switch (kind) {
    case VALUE_NAN:
      return NaN
    case VALUE_POS_INF:
      return Infinity
    case VALUE_NEG_INF:
      return -Infinity
    default:
      return value ?? NaN
  }
}

/** JSON has no NaN or Infinity: exports write them as these strings. */
export function numberForJson(x: number): number | string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'Infinity'
  if (x === -Infinity) return '-Infinity'
  return x
}
