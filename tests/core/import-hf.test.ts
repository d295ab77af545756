// `workbench import-hf` on a Llama-2-like folder: sharded safetensors with
// model.safetensors.index.json and only a SentencePiece tokenizer.model (no tokenizer.json).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { initBackend } from '../../core/backend'
import { importHfFolder } from '../../core/jobs/importHf'
import { countParameters } from '../../core/model/config'
import { hfConfigToLlama } from '../../core/model/hf'
import { Tokenizer } from '../../core/tokenizer'
import { PIECE_TYPE, sentencePieceToTokenizerJson, writeSentencePieceModel, type SentencePiece } from '../../core/tokenizer/sentencepiece'
import { loadModel } from '../../core/model/load'
import { Store } from '../../core/tracking/store'
import { tinyHfConfig, tinyHfShapes, tinyTensors, writeTinyHfFolder } from '../fixtures/hf/tinyHf'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-import-hf-'))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** A Llama 2 layout in miniature: <unk> <s> </s>, 256 byte pieces, then merged pieces and characters (no chat tokens). */
function llama2LikePieces(): SentencePiece[] {
  const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`
  const normal = ['▁h', 'll', '▁he', '▁hell', '▁hello', '▁w', 'or', '▁wor', '▁worl', '▁world', '▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd']
  return [
    { piece: '<unk>', score: 0, type: PIECE_TYPE.UNKNOWN },
    { piece: '<s>', score: 0, type: PIECE_TYPE.CONTROL },
    { piece: '</s>', score: 0, type: PIECE_TYPE.CONTROL },
    ...Array.from({ length: 256 }, (_, b) => ({ piece: hex(b), score: 0, type: PIECE_TYPE.BYTE })),
    ...normal.map((piece, i) => ({ piece, score: -i, type: PIECE_TYPE.NORMAL })),
  ]
}

let folder = ''
let home = ''
const VOCAB = 3 + 256 + 18

beforeAll(async () => {
  await initBackend('wasm')
  folder = path.join(root, 'llama-2-tiny')
  home = path.join(root, 'home')
  const config = tinyHfConfig({ vocab_size: VOCAB })
  const shapes = tinyHfShapes()
  shapes['model.embed_tokens.weight'] = [VOCAB, 32]
  shapes['lm_head.weight'] = [VOCAB, 32]
  writeTinyHfFolder(folder, { config, tensors: tinyTensors(shapes), shards: 3 })
  const model = { pieces: llama2LikePieces(), modelType: 2, byteFallback: true, splitDigits: true, addDummyPrefix: true, removeExtraWhitespaces: false, normalizerName: 'identity', unkId: 0, bosId: 1, eosId: 2, padId: -1 }
  fs.writeFileSync(path.join(folder, 'tokenizer.model'), writeSentencePieceModel(model))
})

describe('import-hf', () => {
  it('imports sharded weights and a SentencePiece tokenizer.model, reporting the model\'s own size', async () => {
    expect(fs.existsSync(path.join(folder, 'model.safetensors.index.json'))).toBe(true)
    expect(fs.existsSync(path.join(folder, 'tokenizer.json'))).toBe(false)
    const result = await importHfFolder(home, folder, { name: 'llama-2-tiny' })
    const own = hfConfigToLlama(tinyHfConfig({ vocab_size: VOCAB }))
    // Not the grown vocabulary (the chat tokens the tokenizer lacked are appended on load).
    expect(result.vocabSize).toBe(VOCAB)
    expect(result.nParams).toBe(countParameters(own))
    expect(result.warnings.join('\n')).toMatch(/added as new tokens; the embedding grows from 277 to 281 rows/)

    // The run folder has the shards converted into one float32 file, the .model and a converted tokenizer.json.
    const files = fs.readdirSync(result.checkpointDir)
    expect(files).toEqual(expect.arrayContaining(['model.safetensors', 'tokenizer.model', 'tokenizer.json', 'config.json']))
    const tok = Tokenizer.load(result.checkpointDir)
    expect(tok.encode('hello world').map((id) => tok.idToToken(id))).toEqual(['▁hello', '▁world'])
    expect(tok.encode('hi 🦙').map((id) => tok.idToToken(id))).toEqual(['▁h', '<0x69>', '▁', '<0xF0>', '<0x9F>', '<0xA6>', '<0x99>'])

    const loaded = loadModel(result.checkpointDir)
    expect(loaded.model.config.vocab_size).toBe(tok.vocabSize)
    loaded.dispose()

    const store = Store.open(home)
    try {
      const run = store.getRunRecord(result.runId)
      expect(run?.status).toBe('finished')
      expect(run?.stage).toBe('import')
    } finally {
      store.close()
    }
  }, 60_000)

  it('reports the parameters of the model as stored, not of the vocabulary grown by the chat tokens (tokenizer.json folder)', async () => {
    const plain = path.join(root, 'with-json')
    writeTinyHfFolder(plain, { config: tinyHfConfig({ vocab_size: VOCAB }), tensors: tinyTensors({ ...tinyHfShapes(), 'model.embed_tokens.weight': [VOCAB, 32], 'lm_head.weight': [VOCAB, 32] }) })
    const model = { pieces: llama2LikePieces(), modelType: 2, byteFallback: true, splitDigits: true, addDummyPrefix: true, removeExtraWhitespaces: false, normalizerName: 'identity', unkId: 0, bosId: 1, eosId: 2, padId: -1 }
    fs.writeFileSync(path.join(plain, 'tokenizer.json'), JSON.stringify(sentencePieceToTokenizerJson(model)))
    const result = await importHfFolder(home, plain)
    expect(result.vocabSize).toBe(VOCAB)
    expect(result.nParams).toBe(countParameters(hfConfigToLlama(tinyHfConfig({ vocab_size: VOCAB }))))
  }, 60_000)
})
