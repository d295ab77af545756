// The machine's peak matmul rate, measured by the bench itself: a loop of large square products
// through the native matmul alone (no tfjs, no allocation), at a given thread count. A training
// step's FLOP/s divided by this says how close training comes to what the cores can do.
import { loadFastGemm } from '../core/backend/kernels/nativeMatMul'
import type { LlamaConfig } from '../core/model/config'

/** Best GFLOP/s of `rounds` rounds of ~0.3 s of 512 x 512 x 512 products on `threads` threads; null without the addon. */
export function measurePeakGflops(threads: number, rounds = 3): number | null {
  const gemm = loadFastGemm()
  if (!gemm) return null
  const size = 512
  const a = Float32Array.from({ length: size * size }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5)
  const b = Float32Array.from({ length: size * size }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5)
  const c = new Float32Array(size * size)
  const before = gemm.threads()
  gemm.setThreads(threads)
  const flopsPerCall = 2 * size ** 3
  let best = 0
  try {
    gemm.matmul(a, b, c, 1, size, size, size, false, false, false, false) // warm-up: buffers, pool
    for (let r = 0; r < rounds; r++) {
      let calls = 0
      const start = performance.now()
      while (performance.now() - start < 300) {
        gemm.matmul(a, b, c, 1, size, size, size, false, false, false, false)
        calls++
      }
      best = Math.max(best, (calls * flopsPerCall) / ((performance.now() - start) / 1000) / 1e9)
    }
  } finally {
    gemm.setThreads(before)
  }
  return best
}

/**
 * Floating-point operations of one training step (forward + backward = 3x the forward's matmuls):
 * the projections, the MLP and the output head (2 per multiply-add per token), and attention's two
 * [T, T] products per head, computed in full (the causal mask does not skip work). Elementwise
 * work (norms, softmax, AdamW) is left out, as is usual for model FLOP utilisation.
 */
export function trainingStepFlops(cfg: LlamaConfig, batch: number, seq: number): number {
  const headDim = cfg.dim / cfg.n_heads
  const kv = cfg.n_kv_heads * headDim
  const perLayerWeights = 2 * cfg.dim * cfg.dim + 2 * cfg.dim * kv + 3 * cfg.dim * cfg.hidden_dim
  const matmulWeights = cfg.n_layers * perLayerWeights + cfg.vocab_size * cfg.dim
  const tokens = batch * seq
  const attention = cfg.n_layers * 2 * 2 * batch * seq * seq * cfg.dim // QK^T and AV, forward
  return 3 * (2 * tokens * matmulWeights + attention)
}
