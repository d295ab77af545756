// resources/: the default config of every stage (generated from its schema: they cannot drift),
// the demo prompt sets (read with the loader the stages use) and the app icons.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import path from 'node:path'
import { defaultsFile, defaultsOf } from '../../core/config/defaults'
import { checkValue } from '../../core/config/schema'
import { readPromptSet } from '../../core/data/prompts'
import { listStages } from '../../core/train/stages/registry'

const root = path.resolve(__dirname, '..', '..')
const resources = path.join(root, 'resources')

describe('resources/configs', () => {
  it('holds one file per registered stage and nothing else', () => {
    const files = fs.readdirSync(path.join(resources, 'configs')).sort()
    expect(files).toEqual(listStages().map((s) => `${s.name}.json`).sort())
  })

  for (const stage of listStages()) {
    it(`${stage.name}.json is the stage's schema defaults (regenerate: npm run resources)`, () => {
      const config = JSON.parse(fs.readFileSync(defaultsFile(root, stage.name), 'utf8')) as Record<string, unknown>
      expect(config).toEqual(defaultsOf(stage.fields))
      for (const [key, value] of Object.entries(config)) {
        const field = stage.fields.find((f) => f.key === key)
        expect(field, `${stage.name}.json: unknown key ${key}`).toBeDefined()
        expect(checkValue(field!, value), `${stage.name}.json: ${key}`).toBeNull()
      }
      // Parsed by the stage's own schema: the only complaints are the keys a user must give.
      const result = stage.schema.safeParse(config)
      const complaints = result.success ? [] : result.error.issues.map((i) => String(i.path[0]))
      expect(complaints.sort()).toEqual(stage.fields.filter((f) => f.required).map((f) => f.key).sort())
    })
  }
})

describe('resources/prompts', () => {
  const files = fs.readdirSync(path.join(resources, 'prompts')).filter((f) => f.endsWith('.jsonl'))

  it('offers the general, adversarial, borderline and multi-turn sets', () => {
    expect(files.sort()).toEqual(['adversarial.jsonl', 'borderline.jsonl', 'general.jsonl', 'multiturn.jsonl'])
  })

  for (const file of files) {
    it(`${file} loads with the prompt-set reader, every line valid and categorised`, () => {
      const { items, skipped } = readPromptSet(path.join(resources, 'prompts', file))
      expect(skipped.count).toBe(0)
      expect(items.length).toBeGreaterThanOrEqual(6)
      for (const item of items) {
        expect(item.category, item.source).toBeTruthy()
        expect(item.messages.at(-1)).toEqual({ role: 'user', content: item.prompt })
      }
    })
  }

  it('multiturn.jsonl holds conversations, not single prompts', () => {
    const { items } = readPromptSet(path.join(resources, 'prompts', 'multiturn.jsonl'))
    for (const item of items) expect(item.messages.length, item.id).toBeGreaterThanOrEqual(3)
  })
})

/** Width and height from a PNG's IHDR chunk (after the 8-byte signature and the chunk header). */
function pngSize(png: Buffer): [number, number] {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  expect(png.toString('ascii', 12, 16)).toBe('IHDR')
  return [png.readUInt32BE(16), png.readUInt32BE(20)]
}

describe('resources icons', () => {
  it('icon.png and the Linux icon folder are square PNGs of their named size', () => {
    expect(pngSize(fs.readFileSync(path.join(resources, 'icon.png')))).toEqual([512, 512])
    for (const size of [16, 32, 48, 64, 128, 256, 512]) {
      expect(pngSize(fs.readFileSync(path.join(resources, 'icons', `${size}x${size}.png`)))).toEqual([size, size])
    }
  })

  it('icon.ico is an icon directory whose entries are PNGs of the sizes they claim', () => {
    const ico = fs.readFileSync(path.join(resources, 'icon.ico'))
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1])
    const count = ico.readUInt16LE(4)
    const sizes: number[] = []
    for (let i = 0; i < count; i++) {
      const entry = 6 + 16 * i
      const claimed = ico.readUInt8(entry) || 256
      const length = ico.readUInt32LE(entry + 8)
      const offset = ico.readUInt32LE(entry + 12)
      expect(offset + length).toBeLessThanOrEqual(ico.length)
      expect(pngSize(ico.subarray(offset, offset + length))).toEqual([claimed, claimed])
      sizes.push(claimed)
    }
    expect(sizes).toContain(256)
    expect(sizes).toContain(16)
  })

  it('icon.icns holds PNG chunks ic08, ic09 and ic10 (256, 512, 1024)', () => {
    const icns = fs.readFileSync(path.join(resources, 'icon.icns'))
    expect(icns.toString('ascii', 0, 4)).toBe('icns')
    expect(icns.readUInt32BE(4)).toBe(icns.length)
    const chunks = new Map<string, [number, number]>()
    for (let at = 8; at < icns.length; ) {
      const type = icns.toString('ascii', at, at + 4)
      const length = icns.readUInt32BE(at + 4)
      chunks.set(type, pngSize(icns.subarray(at + 8, at + length)))
      at += length
    }
    expect(chunks.get('ic08')).toEqual([256, 256])
    expect(chunks.get('ic09')).toEqual([512, 512])
    expect(chunks.get('ic10')).toEqual([1024, 1024])
  })
})
