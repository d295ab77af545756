// The native matmul (native/fastgemm) behind tfjs's BatchMatMul: the same products as a plain
// reference for every layout the model uses (transposes, batches, broadcasting, edge sizes), on
// both backends it serves. Needs the addon (tests/references.ts: skipped where it could not be
// built, failed in CI, where npm ci's postinstall builds it).
import { spawnSync } from 'node:child_process'
import { describe, it, expect, beforeAll } from 'vitest'
import { tf } from '../../core/backend/tf'
import { initBackend } from '../../core/backend'
import { loadFastGemm } from '../../core/backend/kernels/nativeMatMul'
import { mulberry32 } from '../../core/util/random'
import { describeWith } from '../references'

const gemm = loadFastGemm()

function randomArray(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed)
  return Float32Array.from({ length: n }, () => rand() - 0.5)
}

/** op(a) @ op(b) for one matrix pair, in float64. */
function reference(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const c = new Float64Array(m * n)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j])
      c[i * n + j] = s
    }
  }
  return c
}

function maxError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]))
  return worst
}

describeWith('native-matmul', 'native matmul', () => describe.each(['wasm', 'cpu'] as const)('on %s', (backend) => {
  beforeAll(async () => {
    const info = await initBackend(backend)
    expect(info.device).toContain('native FMA matmul')
  })

  it.each([
    [1, 1, 1],
    [7, 19, 5],
    [37, 33, 300], // k spans two KC blocks
    [100, 2100, 17], // n spans two NC blocks
    [13, 16, 600],
  ])('m=%i n=%i k=%i in all four transpose layouts', (m, n, k) => {
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const a = randomArray(m * k, m + k)
        const b = randomArray(k * n, n + k)
        const c = tf.tidy(() => tf.matMul(tf.tensor2d(a, ta ? [k, m] : [m, k]), tf.tensor2d(b, tb ? [n, k] : [k, n]), ta, tb).dataSync())
        expect(maxError(c, reference(a, b, m, n, k, ta, tb)), `ta=${ta} tb=${tb}`).toBeLessThan(1e-4 * Math.sqrt(k))
      }
    }
  })

  it('multiplies batches, and broadcasts a single matrix against a batch', () => {
    const [g, m, n, k] = [3, 9, 20, 11]
    const a = randomArray(g * m * k, 1)
    const b = randomArray(g * k * n, 2)
    const batched = tf.tidy(() => tf.matMul(tf.tensor3d(a, [g, m, k]), tf.tensor3d(b, [g, k, n])).dataSync())
    const broadcast = tf.tidy(() => tf.matMul(tf.tensor3d(a.subarray(0, m * k), [1, m, k]), tf.tensor3d(b, [g, k, n])).dataSync())
    for (let i = 0; i < g; i++) {
      const expected = reference(a.subarray(i * m * k), b.subarray(i * k * n), m, n, k, false, false)
      expect(maxError(batched.subarray(i * m * n, (i + 1) * m * n), expected)).toBeLessThan(1e-4)
      const expectedBroadcast = reference(a, b.subarray(i * k * n), m, n, k, false, false)
      expect(maxError(broadcast.subarray(i * m * n, (i + 1) * m * n), expectedBroadcast)).toBeLessThan(1e-4)
    }
  })

  it('leaves what it does not cover to the backend (a two-sided broadcast) and keeps its errors', () => {
    const out = tf.tidy(() => tf.matMul(tf.ones([2, 1, 3, 4]), tf.ones([1, 5, 4, 6])))
    expect(out.shape).toEqual([2, 5, 3, 6])
    expect(out.dataSync()[0]).toBe(4)
    out.dispose()
    expect(() => tf.tidy(() => tf.matMul(tf.ones([3, 4]), tf.ones([5, 6])))).toThrow(/4.*5|inner/i)
  })
}))

describeWith('native-matmul', 'native matmul threads', () => {
  /** The addon's product at `threads` threads per call (restoring the setting after). */
  function product(threads: number, a: Float32Array, b: Float32Array, dims: [number, number, number, number], flags: [boolean, boolean, boolean, boolean]): Float32Array {
    const [batch, m, n, k] = dims
    const before = gemm!.threads()
    gemm!.setThreads(threads)
    try {
      const c = new Float32Array(batch * m * n).fill(NaN)
      gemm!.matmul(a, b, c, batch, m, n, k, ...flags)
      return c
    } finally {
      gemm!.setThreads(before)
    }
  }

  // Each shape takes a different split: many items (attention heads), one item cut into row strips
  // (m >= n) or column strips (n > m), an uneven batch cut per item, and one too small to split.
  it.each([
    ['items', [8, 64, 48, 40], [false, true, false, false]],
    ['row strips', [1, 301, 70, 129], [true, false, false, false]],
    ['column strips', [1, 37, 530, 300], [false, true, false, false]],
    ['uneven batch, broadcast', [3, 90, 100, 70], [true, true, true, false]],
    ['too small to split', [1, 7, 5, 3], [false, false, false, false]],
  ] as const)('%s: bitwise the same at 1, 2, 3 and 8 threads', (_, dims, flags) => {
    const [batch, m, n, k] = dims
    const a = randomArray((flags[2] ? 1 : batch) * m * k, m * 7 + k)
    const b = randomArray((flags[3] ? 1 : batch) * k * n, n * 7 + k)
    const one = product(1, a, b, [...dims], [...flags])
    expect(one.some(Number.isNaN)).toBe(false)
    for (let i = 0; i < batch; i++) {
      const expected = reference(a.subarray(flags[2] ? 0 : i * m * k), b.subarray(flags[3] ? 0 : i * k * n), m, n, k, flags[0], flags[1])
      expect(maxError(one.subarray(i * m * n, (i + 1) * m * n), expected)).toBeLessThan(1e-4 * Math.sqrt(k))
    }
    for (const threads of [2, 3, 8]) expect(Array.from(product(threads, a, b, [...dims], [...flags])), `${threads} threads`).toEqual(Array.from(one))
  })

  // A few rows against a row-major B (decoding) read B in place instead of packing it (gemm.c,
  // reads_b_in_place): the same arithmetic, so each row must be bitwise what it is inside a
  // larger product (which packs). k spans two KC blocks; n ends in a narrow panel; the wide B
  // (rows more than a page apart) reads in place only for up to MR rows.
  it.each([[300, 150], [70, 1500]])('a few rows against B [%i, %i] read in place: bitwise the rows of a larger, packed product', (k, n) => {
    const big = 40
    const a = randomArray(big * k, k + n)
    const b = randomArray(k * n, k * n)
    const packed = product(1, a, b, [1, big, n, k], [false, false, false, false])
    for (const m of [1, 5, 6, 8, 16]) {
      for (const threads of [1, 2]) {
        const rows = product(threads, a.subarray(0, m * k), b, [1, m, n, k], [false, false, false, false])
        expect(Array.from(rows), `${m} rows, ${threads} threads`).toEqual(Array.from(packed.subarray(0, m * n)))
      }
    }
  })

  it('takes 0 as one thread per core and refuses a negative count', () => {
    const before = gemm!.threads()
    expect(gemm!.setThreads(0)).toBeGreaterThanOrEqual(1)
    expect(() => gemm!.setThreads(-1)).toThrow(/thread count >= 0/)
    gemm!.setThreads(before)
  })

  it('runs calls from several JS threads at once (gradient workers) with the right results', async () => {
    const { Worker } = await import('node:worker_threads')
    const before = gemm!.threads()
    gemm!.setThreads(2)
    const [m, n, k] = [120, 90, 200]
    const a = randomArray(m * k, 11)
    const b = randomArray(k * n, 12)
    const expected = product(1, a, b, [1, m, n, k], [false, false, false, false])
    const file = new URL('../../native/fastgemm/build/Release/fastgemm.node', import.meta.url).pathname
    // Two workers and this thread multiply 20 times each, at the same time, on the shared pool.
    const code = `const { parentPort, workerData: w } = require('node:worker_threads'); const g = require(w.file); const c = new Float32Array(w.m * w.n);
      for (let i = 0; i < 20; i++) g.matmul(w.a, w.b, c, 1, w.m, w.n, w.k, false, false, false, false); parentPort.postMessage(c)`
    const run = () => new Promise<Float32Array>((resolve, reject) => {
      const worker = new Worker(code, { eval: true, workerData: { file, a, b, m, n, k } })
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    const pending = [run(), run()]
    const c = new Float32Array(m * n)
    for (let i = 0; i < 20; i++) gemm!.matmul(a, b, c, 1, m, n, k, false, false, false, false)
    for (const result of [c, ...(await Promise.all(pending))]) expect(Array.from(result)).toEqual(Array.from(expected))
    gemm!.setThreads(before)
  })

  // The pool's threads spin a while for the next job before they sleep (WORKBENCH_POOL_SPIN_US,
  // read once per process). Jobs back to back (caught spinning), after a pause longer than the spin
  // (caught asleep), and with spinning off must all give the one-thread result.
  it.each([['spinning (default)', {}], ['spin off', { WORKBENCH_POOL_SPIN_US: '0' }], ['long spin', { WORKBENCH_POOL_SPIN_US: '20000' }]] as const)(
    'pool threads %s: jobs back to back and after pauses give the one-thread result', (_, env) => {
      const file = new URL('../../native/fastgemm/build/Release/fastgemm.node', import.meta.url).pathname
      const code = `const g = require(${JSON.stringify(file)}); const [m, n, k] = [96, 160, 64];
        const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i)); const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
        const run = (t) => { g.setThreads(t); const c = new Float32Array(m * n); g.matmul(a, b, c, 1, m, n, k, false, false, false, false); return c.join(); };
        const one = run(1); let same = 0;
        for (let i = 0; i < 60; i++) { if (i % 20 === 19) { const until = Date.now() + 5; while (Date.now() < until); } if (run(3) === one) same++; }
        console.log(same)`
      const child = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: { ...process.env, ...env } })
      expect(child.status, child.stderr).toBe(0)
      expect(child.stdout.trim()).toBe('60')
    })
})

describe('native matmul availability', () => {
  it('is switched off by WORKBENCH_NATIVE_MATMUL=0, and the backend says which matmul it uses', () => {
    const device = (env: Record<string, string>) => {
      const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', "const m = await import('./core/backend/index.ts'); console.log((await m.initBackend('wasm')).device)"], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      })
      expect(run.status, run.stderr).toBe(0)
      return run.stdout.trim()
    }
    expect(device({ WORKBENCH_NATIVE_MATMUL: '0' })).not.toContain('native')
    expect(device({}).includes('native FMA matmul'), 'the device names the native matmul exactly when it is built').toBe(gemm !== null)
  })
})
