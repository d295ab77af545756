// The Llama engine on the cpu and wasm backends: the same numerical tests on both.
import { describe, it, expect, beforeAll } from 'vitest'
import { initBackend } from '../../core/backend/index'
import { tf } from '../../core/backend/tf'
import { countParameters, MODEL_PRESETS, resolveModelConfig, type LlamaConfig } from '../../core/model/config'
import { trainingMemory } from '../../core/train/memoryEstimate'
import { causalMask, Llama, weightShapes } from '../../core/model/llama'
import { KVCache } from '../../core/model/kvcache'
import { nativeMatMulActive } from '../../core/backend/kernels/nativeMatMul'
import { ScalarHead, lastTokenIndices, rightPaddedMask } from '../../core/model/heads'
import { mulberry32, normalArray } from '../../core/util/random'

const TINY: Partial<LlamaConfig> = { vocab_size: 37, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 48, max_seq_len: 32 }

function randomTokens(batch: number, seq: number, vocab: number, seed: number): number[][] {
  const rand = mulberry32(seed)
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rand() * vocab)))
}

function ids2d(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0].length], 'int32')
}

/** Weights with a larger spread than the 0.02 init, so that logits and gradients are far from zero. */
function randomWeights(cfg: LlamaConfig, seed: number, std = 0.3): Record<string, tf.Tensor> {
  const rand = mulberry32(seed)
  const out: Record<string, tf.Tensor> = {}
  for (const [name, shape] of Object.entries(weightShapes(cfg))) {
    const size = shape.reduce((a, b) => a * b, 1)
    const values = normalArray(size, std, rand)
    if (shape.length === 1) for (let i = 0; i < size; i++) values[i] += 1 // norms around 1
    out[name] = tf.tensor(values, shape)
  }
  return out
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])
}

/**
 * An independent, plain reference of Llama attention written the obvious way (transpose flags,
 * slice-based rotate_half, explicit repeat_kv per head), to check the model's fast formulation.
 */
function referenceLogits(model: Llama, tokens: number[][]): tf.Tensor3D {
  const cfg = model.config
  const W = model.weights
  const hd = cfg.dim / cfg.n_heads
  const rep = cfg.n_heads / cfg.n_kv_heads
  const [B, T] = [tokens.length, tokens[0].length]
  return tf.tidy(() => {
    const norm = (x: tf.Tensor, w: tf.Tensor) => tf.mul(tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), cfg.norm_eps))), w)
    const proj = (x: tf.Tensor, name: string) => tf.matMul(x as tf.Tensor2D, W[name] as unknown as tf.Tensor2D, false, true)
    const invFreq = Array.from({ length: hd / 2 }, (_, i) => 1 / Math.pow(cfg.rope_theta, (2 * i) / hd))
    const angles = tf.tensor2d(Array.from({ length: T }, (_, p) => [...invFreq, ...invFreq].map((f) => p * f)))
    const cos = tf.cos(angles) // [T, hd]
    const sin = tf.sin(angles)
    const rope = (x: tf.Tensor) => {
      // x: [T, hd]
      const x1 = tf.slice(x, [0, 0], [T, hd / 2])
      const x2 = tf.slice(x, [0, hd / 2], [T, hd / 2])
      return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 1), sin))
    }
    const causal = tf.linalg.bandPart(tf.ones([T, T]), -1, 0) // 1 where key <= query
    const outputs: tf.Tensor[] = []
    for (let b = 0; b < B; b++) {
      let x: tf.Tensor = tf.gather(W['model.embed_tokens.weight'], tf.tensor1d(tokens[b], 'int32')) // [T, D]
      for (let l = 0; l < cfg.n_layers; l++) {
        const p = `model.layers.${l}`
        const h = norm(x, W[`${p}.input_layernorm.weight`])
        const q = proj(h, `${p}.self_attn.q_proj.weight`)
        const k = proj(h, `${p}.self_attn.k_proj.weight`)
        const v = proj(h, `${p}.self_attn.v_proj.weight`)
        const heads: tf.Tensor[] = []
        for (let head = 0; head < cfg.n_heads; head++) {
          const kvHead = Math.floor(head / rep) // HF repeat_kv
          const qh = rope(tf.slice(q, [0, head * hd], [T, hd]))
          const kh = rope(tf.slice(k, [0, kvHead * hd], [T, hd]))
          const vh = tf.slice(v, [0, kvHead * hd], [T, hd])
          const scores = tf.div(tf.matMul(qh as tf.Tensor2D, kh as tf.Tensor2D, false, true), Math.sqrt(hd))
          const masked = tf.where(tf.equal(causal, 1), scores, tf.fill([T, T], -Infinity))
          heads.push(tf.matMul(tf.softmax(masked) as tf.Tensor2D, vh as tf.Tensor2D))
        }
        x = tf.add(x, proj(tf.concat(heads, 1), `${p}.self_attn.o_proj.weight`))
        const m = norm(x, W[`${p}.post_attention_layernorm.weight`])
        const gate = proj(m, `${p}.mlp.gate_proj.weight`)
        const up = proj(m, `${p}.mlp.up_proj.weight`)
        x = tf.add(x, proj(tf.mul(tf.mul(gate, tf.sigmoid(gate)), up), `${p}.mlp.down_proj.weight`))
      }
      const out = cfg.tie_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight'
      outputs.push(proj(norm(x, W['model.norm.weight']), out))
    }
    return tf.stack(outputs) as tf.Tensor3D
  })
}

describe('model config', () => {
  it('fills hidden_dim with the multiple_of-rounded 2/3 * 4 * dim rule', () => {
    expect(resolveModelConfig({ vocab_size: 10, dim: 128, n_layers: 1, n_heads: 4, multiple_of: 128 }).hidden_dim).toBe(384)
    expect(resolveModelConfig({ vocab_size: 10, dim: 288, n_layers: 1, n_heads: 6, multiple_of: 32 }).hidden_dim).toBe(768)
    expect(resolveModelConfig({ vocab_size: 10, dim: 64, n_layers: 1, n_heads: 4 }).n_kv_heads).toBe(4)
  })

  it('rejects bad shapes with clear messages', () => {
    expect(() => resolveModelConfig({ vocab_size: 10, dim: 48, n_layers: 1, n_heads: 6, n_kv_heads: 4 })).toThrow('n_heads 6 is not divisible by n_kv_heads 4')
    expect(() => resolveModelConfig({ vocab_size: 10, dim: 50, n_layers: 1, n_heads: 4 })).toThrow('dim 50 is not divisible by n_heads 4')
    expect(() => resolveModelConfig({ vocab_size: 10, dim: 36, n_layers: 1, n_heads: 4 })).toThrow('head_dim 9')
    expect(() => resolveModelConfig({ vocab_size: 10, dim: 32, n_layers: 0, n_heads: 4 })).toThrow('n_layers must be a positive integer')
    expect(() => resolveModelConfig({ dim: 32, n_layers: 1, n_heads: 4 } as Partial<LlamaConfig>)).toThrow('vocab_size is required')
    expect(() => resolveModelConfig({ ...TINY, hidden_size: 3 } as Partial<LlamaConfig>)).toThrow('unknown key "hidden_size"')
  })

  it('counts parameters exactly (tiny preset = the TFJS-NOTES model)', () => {
    expect(countParameters(MODEL_PRESETS.tiny)).toBe(918_656)
    const cfg = resolveModelConfig(TINY)
    const fromShapes = Object.values(weightShapes(cfg)).reduce((sum, s) => sum + s.reduce((a, b) => a * b, 1), 0)
    expect(countParameters(cfg)).toBe(fromShapes)
    const tied = resolveModelConfig({ ...TINY, tie_embeddings: true })
    expect(countParameters(cfg) - countParameters(tied)).toBe(cfg.vocab_size * cfg.dim)
  })

  it('estimates memory growing with batch and sequence', () => {
    const a = trainingMemory(MODEL_PRESETS.tiny, { batch: 16, seq: 128 })
    const b = trainingMemory(MODEL_PRESETS.tiny, { batch: 32, seq: 128 })
    expect(a.weightsBytes + a.gradientBytes + a.optimizerBytes).toBe(918_656 * 16)
    expect(b.activationBytes).toBeGreaterThan(1.9 * a.activationBytes)
    expect(a.totalBytes).toBe(a.runtimeBytes! + a.weightsBytes + a.gradientBytes + a.optimizerBytes + a.activationBytes + (a.threadsBytes ?? 0))
  })
})

describe('causal mask', () => {
  /** The rule, one element at a time: key j (position keyStart + j) is hidden from query i (position startPos + i) after it, and before the row's padding ends. */
  function byRule(seq: number, keys: number, startPos: number, keyStart: number, rep: number, padding: number[]): number[] {
    const out: number[] = []
    for (const pad of padding)
      for (let r = 0; r < rep; r++)
        for (let i = 0; i < seq; i++)
          for (let j = 0; j < keys; j++) out.push(keyStart + j > startPos + i || keyStart + j < pad ? -1e9 : 0)
    return out
  }

  it.each([
    [4, 4, 0, 0, 1, [0]], // a chunk from position 0
    [3, 10, 7, 0, 2, [0]], // a chunk at positions 7..9 against cached keys 0..9, two query heads per KV head
    [3, 3, 7, 7, 1, [0]], // the same chunk on its own (no cache)
    [5, 5, 0, 0, 1, [0, 2, 5, 7]], // a left-padded batch, a row of only padding (5) and one padded past every key (7)
    [2, 8, 4, 2, 2, [0, 3, 9]], // keys from column 2, padding per row
  ])('hides later keys and a row\'s padding (T=%i, keys %i, start %i, key start %i, rep %i, padding %j)', (seq, keys, startPos, keyStart, rep, padding) => {
    const mask = padding.length > 1 || padding[0] > 0 ? causalMask(seq, keys, startPos, keyStart, rep, padding) : causalMask(seq, keys, startPos, keyStart, rep)
    const values = Array.from(mask.dataSync()).map((v) => (v < -1e8 ? -1e9 : v))
    expect(values).toEqual(byRule(seq, keys, startPos, keyStart, rep, padding))
    mask.dispose()
  })
})

describe.each(['cpu', 'wasm'] as const)('Llama on %s', (backend) => {
  beforeAll(async () => {
    const info = await initBackend(backend)
    expect(info.name).toBe(backend)
  })

  it('names weights as Hugging Face and gives [B, T, V] logits', () => {
    const model = Llama.create(TINY, 1)
    expect(Object.keys(model.weights)).toContain('model.layers.1.self_attn.k_proj.weight')
    expect(model.weights['model.layers.0.self_attn.k_proj.weight'].shape).toEqual([16, 32]) // 2 kv heads * hd 8
    expect(model.weights['lm_head.weight'].shape).toEqual([37, 32])
    const tokens = ids2d(randomTokens(3, 7, 37, 2))
    const logits = model.logits(tokens)
    const hidden = model.hidden(tokens)
    expect(logits.shape).toEqual([3, 7, 37])
    expect(hidden.shape).toEqual([3, 7, 32])
    expect(Number.isFinite(logits.sum().dataSync()[0])).toBe(true)
    tf.dispose([tokens, logits, hidden])
    model.dispose()
  })

  it('releases every tensor on dispose (model, decode cache, heads)', async () => {
    const before = tf.memory().numTensors
    const model = Llama.create(TINY, 1)
    const head = ScalarHead.create('value', 32, 1)
    const cache = new KVCache(model.config, 1)
    const [prompt, next] = [ids2d([[1, 2, 3]]), ids2d([[4]])]
    tf.dispose([model.logits(prompt, cache), model.logits(next, cache), prompt, next])
    cache.dispose()
    head.dispose()
    model.dispose()
    expect(tf.memory().numTensors).toBe(before)
  })

  it('initialises deterministically from the seed', () => {
    const a = Llama.create(TINY, 7)
    const b = Llama.create(TINY, 7)
    const c = Llama.create(TINY, 8)
    const name = 'model.layers.0.mlp.up_proj.weight'
    expect(maxAbsDiff(a.weights[name], b.weights[name])).toBe(0)
    expect(maxAbsDiff(a.weights[name], c.weights[name])).toBeGreaterThan(0)
    const std = tf.tidy(() => tf.moments(a.weights[name]).variance.sqrt().dataSync()[0])
    expect(std).toBeGreaterThan(0.017)
    expect(std).toBeLessThan(0.023)
    ;[a, b, c].forEach((m) => m.dispose())
  })

  it('is causal: changing a later token leaves earlier logits unchanged', () => {
    const model = Llama.create(TINY, 3)
    const rows = randomTokens(1, 10, 37, 4)
    const changed = [[...rows[0]]]
    changed[0][6] = (changed[0][6] + 5) % 37
    const a = model.logits(ids2d(rows))
    const b = model.logits(ids2d(changed))
    const before = maxAbsDiff(a.slice([0, 0, 0], [1, 6, 37]), b.slice([0, 0, 0], [1, 6, 37]))
    const after = maxAbsDiff(a.slice([0, 6, 0], [1, 4, 37]), b.slice([0, 6, 0], [1, 4, 37]))
    expect(before).toBe(0)
    expect(after).toBeGreaterThan(1e-4)
    tf.dispose([a, b])
    model.dispose()
  })

  it('matches a plain reference implementation (GQA, MHA and MQA)', () => {
    for (const n_kv_heads of [2, 4, 1]) {
      const cfg = resolveModelConfig({ ...TINY, n_kv_heads })
      const weights = randomWeights(cfg, 5)
      const model = Llama.fromWeights(cfg, weights)
      const rows = randomTokens(2, 9, 37, 6)
      const ours = model.logits(ids2d(rows))
      const ref = referenceLogits(model, rows)
      expect(maxAbsDiff(ours, ref)).toBeLessThan(2e-4 * Math.max(1, tf.tidy(() => tf.max(tf.abs(ref)).dataSync()[0])))
      tf.dispose([ours, ref, ...Object.values(weights)])
      model.dispose()
    }
  })

  it('GQA equals multi-head attention with each KV head repeated (HF repeat_kv order)', () => {
    const gqaCfg = resolveModelConfig({ ...TINY, n_kv_heads: 2 })
    const mhaCfg = resolveModelConfig({ ...TINY, n_kv_heads: 4 })
    const weights = randomWeights(gqaCfg, 9)
    const repeated: Record<string, tf.Tensor> = { ...weights }
    for (let l = 0; l < TINY.n_layers!; l++) {
      for (const kv of ['k_proj', 'v_proj']) {
        const name = `model.layers.${l}.self_attn.${kv}.weight`
        // [2 heads * 8, 32] -> [4 heads * 8, 32] with head g used by query heads 2g and 2g+1.
        repeated[name] = tf.tidy(() => tf.reshape(tf.tile(tf.reshape(weights[name], [2, 1, 8 * 32]), [1, 2, 1]), [32, 32]))
      }
    }
    const gqa = Llama.fromWeights(gqaCfg, weights)
    const mha = Llama.fromWeights(mhaCfg, repeated)
    const rows = randomTokens(2, 8, 37, 10)
    const a = gqa.logits(ids2d(rows))
    const b = mha.logits(ids2d(rows))
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-4)
    tf.dispose([a, b, ...Object.values(weights), ...Object.values(repeated)])
    gqa.dispose()
    mha.dispose()
  })

  it('KV-cache decoding gives the same logits as full recompute', () => {
    const cfg = resolveModelConfig(TINY)
    const weights = randomWeights(cfg, 11, 0.1)
    const model = Llama.fromWeights(cfg, weights)
    const rows = randomTokens(2, 12, 37, 12)
    const full = model.logits(ids2d(rows)) // [2, 12, V]
    const cache = new KVCache(cfg, 2)
    const pieces: tf.Tensor3D[] = [model.logits(ids2d(rows.map((r) => r.slice(0, 5))), cache)] // prefill 5
    pieces.push(model.logits(ids2d(rows.map((r) => r.slice(5, 8))), cache)) // a chunk of 3
    for (let t = 8; t < 12; t++) pieces.push(model.logits(ids2d(rows.map((r) => [r[t]])), cache)) // one by one
    expect(cache.length).toBe(12)
    const incremental = tf.concat(pieces, 1)
    expect(maxAbsDiff(full, incremental)).toBeLessThan(1e-4)
    expect(() => model.logits(ids2d(rows.map((r) => [r[0]])), cache, 3)).toThrow('does not match the KV cache')
    cache.dispose()
    tf.dispose([full, incremental, ...pieces, ...Object.values(weights)])
    model.dispose()
  })

  it.each([
    ['grown by concatenation', undefined],
    ['preallocated and written in place', 14],
  ])('a left-padded batch in the KV cache (%s) gives each row its own logits, also after dropping rows', (_kind, capacity) => {
    const cfg = resolveModelConfig(TINY)
    const weights = randomWeights(cfg, 21, 0.1)
    const model = Llama.fromWeights(cfg, weights)
    const lengths = [3, 7, 5]
    const rows = randomTokens(3, 12, 37, 22)
    // Each row alone, no cache: logits at every position [1, 12, V].
    const alone = rows.map((r) => model.logits(ids2d([r])))
    const expectRow = (got: tf.Tensor2D, i: number, row: number, position: number) => {
      const want = tf.tidy(() => tf.reshape(tf.slice(alone[row], [0, position, 0], [1, 1, -1]), [-1]))
      const mine = tf.tidy(() => tf.reshape(tf.slice(got, [i, 0], [1, -1]), [-1]))
      expect(maxAbsDiff(mine, want)).toBeLessThan(1e-4)
      tf.dispose([want, mine])
    }
    const width = Math.max(...lengths)
    const padded = rows.map((r, b) => [...new Array(width - lengths[b]).fill(0), ...r.slice(0, lengths[b])])
    const cache = new KVCache(cfg, 3, lengths.map((l) => width - l), capacity)
    // The preallocated kind is used on cpu, and on wasm with the native matmul (kvcache.ts).
    const inPlace = capacity !== undefined && (backend === 'cpu' || nativeMatMulActive())
    expect(cache.keyColumns(1)).toBe(inPlace ? capacity : 1)
    const prefill = model.nextTokenLogits(ids2d(padded), cache) // [3, V]
    lengths.forEach((l, b) => expectRow(prefill, b, b, l - 1))
    let live = [0, 1, 2]
    for (let step = 0; step < 4; step++) {
      if (step === 2) {
        // Drop the longest row (the only one without padding): two padding columns go too.
        cache.keepRows([2, 0])
        live = [2, 0]
        expect(cache.length).toBe(width + 2 - 2)
        expect(cache.padding).toEqual([0, 2])
      }
      const next = live.map((b) => [rows[b][lengths[b] + step]])
      const logits = model.nextTokenLogits(ids2d(next), cache)
      live.forEach((b, i) => expectRow(logits, i, b, lengths[b] + step))
      logits.dispose()
    }
    cache.dispose()
    tf.dispose([prefill, ...alone, ...Object.values(weights)])
    model.dispose()
  })

  it('masked loss is the mean cross-entropy over mask == 1 positions', () => {
    const model = Llama.create(TINY, 13)
    const tokens = ids2d(randomTokens(2, 6, 37, 14))
    const targets = ids2d(randomTokens(2, 6, 37, 15))
    const maskRows = [[0, 0, 1, 1, 1, 0], [1, 0, 0, 0, 0, 1]]
    const mask = ids2d(maskRows)
    const logits = model.logits(tokens)
    const manual = tf.tidy(() => {
      const logp = tf.logSoftmax(logits)
      const t = targets.arraySync()
      let sum = 0
      let count = 0
      const lp = logp.arraySync() as number[][][]
      maskRows.forEach((row, b) => row.forEach((m, i) => { if (m) { sum -= lp[b][i][t[b][i]]; count++ } }))
      return sum / count
    })
    const loss = model.loss(tokens, targets, mask)
    expect(loss.dataSync()[0]).toBeCloseTo(manual, 4)
    const full = model.loss(tokens, targets)
    expect(full.dataSync()[0]).toBeGreaterThan(3) // about ln(37) = 3.6 at init
    expect(full.dataSync()[0]).toBeLessThan(4.2)
    const logProbs = model.perTokenLogProbs(tokens, targets)
    expect(logProbs.shape).toEqual([2, 6])
    tf.dispose([tokens, targets, mask, logits, loss, full, logProbs])
    model.dispose()
  })

  it('gradients match finite differences', () => {
    const cfg = resolveModelConfig({ ...TINY, dim: 16, hidden_dim: 24, n_layers: 1, n_heads: 2, n_kv_heads: 1, vocab_size: 11, tie_embeddings: true })
    const weights = randomWeights(cfg, 16, 0.4)
    const model = Llama.fromWeights(cfg, weights)
    const tokens = ids2d(randomTokens(2, 5, 11, 17))
    const targets = ids2d(randomTokens(2, 5, 11, 18))
    const mask = ids2d([[1, 1, 0, 1, 1], [0, 1, 1, 1, 1]])
    const lossValue = () => tf.tidy(() => model.loss(tokens, targets, mask).dataSync()[0])
    const { grads } = tf.variableGrads(() => model.loss(tokens, targets, mask))
    const names = Object.keys(model.weights)
    const byVariable = new Map(Object.entries(model.weights).map(([n, v]) => [v.name, n]))
    const gradOf: Record<string, Float32Array> = {}
    for (const [varName, g] of Object.entries(grads)) gradOf[byVariable.get(varName)!] = g.dataSync() as Float32Array
    expect(Object.keys(gradOf).sort()).toEqual([...names].sort())
    const eps = 1e-2
    let checked = 0
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_proj.weight', 'model.layers.0.self_attn.v_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.layers.0.input_layernorm.weight', 'model.norm.weight']) {
      const v = model.weights[name]
      const g = gradOf[name]
      // The two largest-gradient coordinates of each weight (float32 differences need a signal).
      const coords = Array.from(g.keys()).sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 2)
      for (const i of coords) {
        const original = v.dataSync().slice() as Float32Array
        const bump = (delta: number) => {
          const values = original.slice()
          values[i] += delta
          v.assign(tf.tensor(values, v.shape))
        }
        bump(eps)
        const up = lossValue()
        bump(-eps)
        const down = lossValue()
        v.assign(tf.tensor(original, v.shape))
        const numeric = (up - down) / (2 * eps)
        expect(Math.abs(numeric - g[i])).toBeLessThan(0.03 * Math.abs(g[i]) + 1e-3)
        checked++
      }
    }
    expect(checked).toBe(14)
    tf.dispose([tokens, targets, mask, ...Object.values(grads), ...Object.values(weights)])
    model.dispose()
  })

  it('overfits one batch with Adam, with a stable tensor count', () => {
    const model = Llama.create(TINY, 19)
    const tokens = ids2d(randomTokens(4, 16, 37, 20))
    const targets = ids2d(randomTokens(4, 16, 37, 21))
    const optimizer = tf.train.adam(1e-2)
    const losses: number[] = []
    const counts: number[] = []
    for (let step = 0; step < 60; step++) {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => model.loss(tokens, targets))
        optimizer.applyGradients(grads as tf.NamedTensorMap as Parameters<typeof optimizer.applyGradients>[0])
        return value
      })
      losses.push(loss.dataSync()[0])
      loss.dispose()
      counts.push(tf.memory().numTensors)
    }
    expect(losses[0]).toBeGreaterThan(3)
    expect(losses[59]).toBeLessThan(0.3)
    // The optimizer creates its moments in the first step; after that nothing may leak.
    expect(counts[59]).toBe(counts[2])
    optimizer.dispose()
    tf.dispose([tokens, targets])
    model.dispose()
  })

  it('ties embeddings when asked (no lm_head.weight)', () => {
    const model = Llama.create({ ...TINY, tie_embeddings: true }, 22)
    expect(model.weights['lm_head.weight']).toBeUndefined()
    const tokens = ids2d(randomTokens(1, 4, 37, 23))
    const logits = model.logits(tokens)
    expect(logits.shape).toEqual([1, 4, 37])
    tf.dispose([tokens, logits])
    model.dispose()
  })

  it('fromWeights names what is missing, extra or misshapen', () => {
    const cfg = resolveModelConfig(TINY)
    const weights = randomWeights(cfg, 24)
    const broken: Record<string, tf.Tensor> = { ...weights, 'model.layers.0.self_attn.rotary_emb.inv_freq': tf.zeros([4]) }
    delete broken['model.norm.weight']
    broken['lm_head.weight'] = tf.zeros([36, 32])
    let message = ''
    try {
      Llama.fromWeights(cfg, broken)
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toContain('missing model.norm.weight')
    expect(message).toContain('lm_head.weight has shape [36,32], expected [37,32]')
    expect(message).toContain('unexpected tensor model.layers.0.self_attn.rotary_emb.inv_freq')
    tf.dispose([...Object.values(weights), ...Object.values(broken)])
  })

  it('scalar heads score the last non-pad token and pass gradients to the trunk', () => {
    const model = Llama.create(TINY, 25)
    const reward = ScalarHead.create('reward', 32, 1)
    const value = ScalarHead.create('value', 32, 2)
    expect(reward.weightName).toBe('score.weight')
    expect(value.weightName).toBe('value_head.weight')
    const rows = [[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]]
    const mask = rightPaddedMask([3, 5], 5)
    expect(mask).toEqual([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    expect(lastTokenIndices(mask)).toEqual([2, 4])
    const scores = reward.score(model, rows, mask)
    expect(scores.shape).toEqual([2])
    // Padding after the last token must not change the score.
    const shorter = reward.score(model, [[5, 6, 7]], [[1, 1, 1]])
    expect(Math.abs(scores.dataSync()[0] - shorter.dataSync()[0])).toBeLessThan(1e-5)
    const hidden = model.hidden(ids2d(rows))
    expect(value.perToken(hidden).shape).toEqual([2, 5])
    const { grads } = tf.variableGrads(() => reward.score(model, rows, mask).sum() as tf.Scalar, [
      reward.weight,
      model.weights['model.embed_tokens.weight'],
    ])
    expect(Object.keys(grads)).toHaveLength(2)
    for (const g of Object.values(grads)) expect(tf.tidy(() => tf.sum(tf.abs(g)).dataSync()[0])).toBeGreaterThan(0)
    tf.dispose([scores, shorter, hidden, ...Object.values(grads)])
    reward.dispose()
    value.dispose()
    model.dispose()
  })
})
