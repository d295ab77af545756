import { describe, it, expect, beforeAll, afterAll } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { hfConfigToLlama, llamaConfigToHf, readHfFolder } from '../../core/model/hf'
import { MODEL_PRESETS, resolveModelConfig } from '../../core/model/config'
import type { RawTensor } from '../../core/model/safetensors'
import { tinyHfConfig, tinyHfShapes, tinyTensors, writeTinyHfFolder } from '../fixtures/hf/tinyHf'

let root: string
let n = 0
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-hf-'))
})
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
const fresh = () => path.join(root, `m${n++}`)

describe('config.json mapping', () => {
  it('maps a workbench config to transformers keys and back', () => {
    const cfg = resolveModelConfig({ vocab_size: 100, dim: 64, n_layers: 3, n_heads: 8, n_kv_heads: 2, hidden_dim: 160, multiple_of: 32, norm_eps: 1e-5, rope_theta: 500000, max_seq_len: 256, tie_embeddings: true })
    const hf = llamaConfigToHf(cfg, { bos_token_id: 1, eos_token_id: 2, pad_token_id: 3 })
    expect(hf).toMatchObject({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 100, hidden_size: 64, intermediate_size: 160,
      num_hidden_layers: 3, num_attention_heads: 8, num_key_value_heads: 2, head_dim: 8, hidden_act: 'silu',
      max_position_embeddings: 256, rms_norm_eps: 1e-5, rope_theta: 500000, rope_scaling: null, tie_word_embeddings: true,
      attention_bias: false, mlp_bias: false, torch_dtype: 'float32', bos_token_id: 1, eos_token_id: 2, pad_token_id: 3,
    })
    expect(hfConfigToLlama(JSON.parse(JSON.stringify(hf)))).toEqual(cfg)
  })

  it('round-trips the presets (multiple_of aside, which config.json cannot hold)', () => {
    for (const preset of Object.values(MODEL_PRESETS)) {
      const back = hfConfigToLlama(llamaConfigToHf(preset))
      expect({ ...back, multiple_of: 0 }).toEqual({ ...preset, multiple_of: 0 })
      expect(back.hidden_dim % back.multiple_of).toBe(0)
    }
  })

  it('fills transformers defaults for keys a config leaves out', () => {
    const c = tinyHfConfig()
    for (const key of ['num_key_value_heads', 'rms_norm_eps', 'rope_theta', 'max_position_embeddings', 'tie_word_embeddings', 'hidden_act', 'rope_scaling']) delete c[key]
    const cfg = hfConfigToLlama(c)
    expect(cfg).toMatchObject({ n_kv_heads: 4, norm_eps: 1e-6, rope_theta: 10000, max_seq_len: 2048, tie_embeddings: false })
  })
})

describe('unsupported models get a clear error', () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['GPT-2', { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }, /architecture GPT2LMHeadModel \(model_type gpt2\) is not supported: the workbench imports Llama models \(LlamaForCausalLM, or LlamaForSequenceClassification with one label\) only/],
    ['Mistral with a sliding window', { architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 16 }, /MistralForCausalLM with sliding_window 16 < max_position_embeddings 64: sliding-window attention is not supported/],
    ['RoPE scaling', { rope_scaling: { type: 'linear', factor: 2 } }, /"rope_scaling" \{"type":"linear","factor":2\} is not supported/],
    ['attention biases', { attention_bias: true }, /"attention_bias" true is not supported/],
    ['MLP biases', { mlp_bias: true }, /"mlp_bias" true is not supported/],
    ['another activation', { hidden_act: 'gelu' }, /"hidden_act" "gelu" is not supported/],
    ['quantisation', { quantization_config: { quant_method: 'gptq' } }, /quantised checkpoints are not supported/],
    ['a missing key', { hidden_size: undefined }, /"hidden_size" is missing/],
    ['a head_dim of its own', { head_dim: 16 }, /"head_dim" 16 differs from hidden_size \/ num_attention_heads = 8/],
    ['heads that do not divide', { num_key_value_heads: 3 }, /n_heads 4 is not divisible by n_kv_heads 3/],
  ]
  for (const [what, overrides, message] of cases) {
    it(what, () => {
      const dir = fresh()
      writeTinyHfFolder(dir, { config: JSON.parse(JSON.stringify(tinyHfConfig(overrides))) })
      expect(() => readHfFolder(dir)).toThrow(message)
      expect(() => readHfFolder(dir)).toThrow(path.join(dir, 'config.json'))
    })
  }

  it('collects every problem into one error', () => {
    expect(() => hfConfigToLlama(tinyHfConfig({ attention_bias: true, rope_scaling: { type: 'dynamic' } }), 'x/config.json')).toThrow(
      /x\/config\.json: cannot import this model:\n {2}- "rope_scaling"[^\n]*\n {2}- "attention_bias"/,
    )
  })

  it('accepts Mistral without a sliding window (it is then exactly Llama)', () => {
    const dir = fresh()
    writeTinyHfFolder(dir, { config: tinyHfConfig({ architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null }) })
    expect(readHfFolder(dir).config.dim).toBe(32)
  })
})

describe('importing a Hugging Face folder', () => {
  it('reads a single-file folder with the exact values, config and special ids', () => {
    const dir = fresh()
    const tokenizerJson = { version: '1.0', model: { type: 'BPE' } }
    const written = writeTinyHfFolder(dir, { tokenizerJson })
    const folder = readHfFolder(dir)
    expect(folder.config).toMatchObject({ vocab_size: 64, dim: 32, n_layers: 2, n_heads: 4, n_kv_heads: 2, hidden_dim: 96, max_seq_len: 64, norm_eps: 1e-6 })
    expect(Object.keys(folder.weights).sort()).toEqual(Object.keys(written).sort())
    for (const [name, t] of Object.entries(written)) expect(folder.weights[name].data, name).toEqual(t.data)
    expect(folder.tokenizerPath).toBe(path.join(dir, 'tokenizer.json'))
    expect(folder.specialTokenIds).toEqual({ bos_token_id: 1, eos_token_id: 2 })
    expect(folder.warnings).toEqual([])
    expect(folder.heads).toEqual({})
  })

  it('reads sharded weights through model.safetensors.index.json', () => {
    const dir = fresh()
    const written = writeTinyHfFolder(dir, { shards: 3 })
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort()).toEqual([
      'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors',
    ])
    const folder = readHfFolder(dir)
    for (const [name, t] of Object.entries(written)) expect(folder.weights[name].data, name).toEqual(t.data)
  })

  it('converts bfloat16 weights to float32 exactly', () => {
    const dir = fresh()
    writeTinyHfFolder(dir)
    const tensors = tinyTensors(tinyHfShapes())
    writeBf16File(path.join(dir, 'model.safetensors'), tensors)
    const folder = readHfFolder(dir)
    const q = folder.weights['model.layers.0.self_attn.q_proj.weight'].data
    const original = tensors['model.layers.0.self_attn.q_proj.weight'].data as Float32Array
    const truncated = new Float32Array(new Uint32Array(new Uint32Array(original.buffer).map((b) => b & 0xffff0000)).buffer)
    expect(q).toEqual(truncated)
  })

  it('handles tied embeddings: no lm_head.weight needed, and a stray one is dropped', () => {
    const dir = fresh()
    writeTinyHfFolder(dir, { config: tinyHfConfig({ tie_word_embeddings: true }) })
    const folder = readHfFolder(dir)
    expect(folder.config.tie_embeddings).toBe(true)
    expect(folder.weights['lm_head.weight']).toBeUndefined()
    const withHead = fresh()
    writeTinyHfFolder(withHead, { config: tinyHfConfig({ tie_word_embeddings: true }), tensors: tinyTensors(tinyHfShapes()) })
    expect(readHfFolder(withHead).weights['lm_head.weight']).toBeUndefined()
  })

  it('drops rotary inv_freq buffers old checkpoints carry, and passes scalar heads through', () => {
    const dir = fresh()
    const shapes = { ...tinyHfShapes(), 'model.layers.0.self_attn.rotary_emb.inv_freq': [4], 'score.weight': [1, 32] }
    writeTinyHfFolder(dir, { tensors: tinyTensors(shapes) })
    const folder = readHfFolder(dir)
    expect(Object.keys(folder.weights)).not.toContain('model.layers.0.self_attn.rotary_emb.inv_freq')
    expect(Object.keys(folder.heads)).toEqual(['score.weight'])
  })

  it('names a misshapen tensor with both shapes and its file', () => {
    const dir = fresh()
    const shapes = { ...tinyHfShapes(), 'model.layers.1.self_attn.k_proj.weight': [32, 32] }
    writeTinyHfFolder(dir, { tensors: tinyTensors(shapes), shards: 2 })
    expect(() => readHfFolder(dir)).toThrow(
      /weights do not match config\.json:\n {2}- tensor model\.layers\.1\.self_attn\.k_proj\.weight has shape \[32, 32\] but config\.json implies \[16, 32\] \(in model-0000\d-of-00002\.safetensors\)/,
    )
  })

  it('names missing tensors, bias tensors and unknown tensors', () => {
    const dir = fresh()
    const shapes: Record<string, number[]> = { ...tinyHfShapes(), 'model.layers.0.self_attn.q_proj.bias': [32], 'transformer.wte.weight': [64, 32] }
    delete shapes['model.norm.weight']
    writeTinyHfFolder(dir, { tensors: tinyTensors(shapes) })
    const error = captureError(() => readHfFolder(dir))
    expect(error).toMatch(/missing tensor model\.norm\.weight \(expected shape \[32\]\)/)
    expect(error).toMatch(/tensor model\.layers\.0\.self_attn\.q_proj\.bias: biases are not supported/)
    expect(error).toMatch(/unexpected tensor transformer\.wte\.weight \[64, 32\] \(not part of LlamaForCausalLM\)/)
  })

  it('asks to convert pytorch_model.bin to safetensors', () => {
    const dir = fresh()
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(tinyHfConfig()))
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'pickle')
    expect(() => readHfFolder(dir)).toThrow(/has pytorch_model\.bin \(a Python pickle\), which the workbench does not load[^]*Convert it to safetensors first/)
  })

  it('names a missing shard, a tensor absent from its shard, a missing config and a missing folder', () => {
    const dir = fresh()
    writeTinyHfFolder(dir, { shards: 2 })
    fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'))
    expect(() => readHfFolder(dir)).toThrow(/model\.safetensors\.index\.json: shard model-00002-of-00002\.safetensors \(holding .* and \d+ more\) is missing/)

    const lying = fresh()
    writeTinyHfFolder(lying, { shards: 2 })
    const indexFile = path.join(lying, 'model.safetensors.index.json')
    const index = JSON.parse(fs.readFileSync(indexFile, 'utf8'))
    // point model.norm.weight at the shard that does not hold it
    const holder: string = index.weight_map['model.norm.weight']
    index.weight_map['model.norm.weight'] = holder.startsWith('model-00001') ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors'
    fs.writeFileSync(indexFile, JSON.stringify(index))
    expect(() => readHfFolder(lying)).toThrow(/model-0000\d-of-00002\.safetensors: tensor "model\.norm\.weight" is listed in model\.safetensors\.index\.json but not in this shard/)

    const empty = fresh()
    fs.mkdirSync(empty)
    expect(() => readHfFolder(empty)).toThrow(/no config\.json \(not a Hugging Face model folder\)/)
    expect(() => readHfFolder(path.join(root, 'nowhere'))).toThrow(/nowhere: not a folder/)
  })

  it('warns when only a SentencePiece tokenizer.model is there', () => {
    const dir = fresh()
    writeTinyHfFolder(dir)
    fs.writeFileSync(path.join(dir, 'tokenizer.model'), 'sp')
    const folder = readHfFolder(dir)
    expect(folder.tokenizerPath).toBeUndefined()
    expect(folder.warnings[0]).toMatch(/has only tokenizer\.model \(SentencePiece\); the workbench needs tokenizer\.json/)
  })
})

function captureError(f: () => unknown): string {
  try {
    f()
  } catch (err) {
    return (err as Error).message
  }
  throw new Error('expected an error')
}

/** Writes the tensors as BF16 (the top 16 bits of each float32), as many hub checkpoints are. */
function writeBf16File(file: string, tensors: Record<string, RawTensor>): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } }
  const chunks: Buffer[] = []
  let offset = 0
  for (const [name, t] of Object.entries(tensors)) {
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)
    const halves = Uint16Array.from(bits, (b) => b >>> 16)
    const bytes = Buffer.from(halves.buffer)
    header[name] = { dtype: 'BF16', shape: t.shape, data_offsets: [offset, offset + bytes.length] }
    chunks.push(bytes)
    offset += bytes.length
  }
  const json = Buffer.from(JSON.stringify(header))
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(json.length))
  fs.writeFileSync(file, Buffer.concat([len, json, ...chunks]))
}
