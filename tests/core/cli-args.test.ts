import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { ConfigError } from '../../core/config/schema'
import { buildStageConfig, parseCommandArgs, RUN_OPTIONS, UsageError } from '../../core/cli/args'
import { formatDuration, formatProgress } from '../../core/cli/progress'
import { encodeEvent, LineSplitter, parseEventLine } from '../../core/jobs/protocol'
import { z } from 'zod'
import { defineStage } from '../../core/train/stages/types'

const stage = defineStage({
  name: 'demo_stage',
  title: 'Demo',
  description: 'a stage for tests',
  schema: z
    .object({
      data: z.array(z.string()).meta({ help: 'files' }),
      max_steps: z.number().int().min(1).default(100).meta({ help: 'steps' }),
      lr: z.number().default(1e-3).meta({ help: 'lr' }),
      model: z.enum(['tiny', 'small']).default('tiny').meta({ help: 'preset' }),
    })
    .strict(),
  presets: { quick: { max_steps: 5 } },
  run: async () => ({ summary: {} }),
})

function parse(argv: string[]) {
  return parseCommandArgs(argv, { ...RUN_OPTIONS, data: { type: 'string', multiple: true } }, 'demo')
}

describe('CLI config building', () => {
  it('layers preset < config file < flags < --set', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-args-'))
    const file = path.join(dir, 'c.json')
    fs.writeFileSync(file, JSON.stringify({ max_steps: 7, lr: 0.5 }))
    const args = parse(['--preset', 'quick', '--config', file, '--set', 'lr=0.01', '--set', 'model=small'])
    const config = buildStageConfig(stage, args, { data: ['a.txt'] })
    expect(config).toEqual({ data: ['a.txt'], max_steps: 7, lr: 0.01, model: 'small' })
  })

  it('rejects unknown keys and wrong types from --set with the key named', () => {
    expect(() => buildStageConfig(stage, parse(['--set', 'max_stepz=3']), { data: ['a'] })).toThrow(/max_stepz: unknown key/)
    expect(() => buildStageConfig(stage, parse(['--set', 'max_steps=abc']), { data: ['a'] })).toThrow(ConfigError)
    expect(() => buildStageConfig(stage, parse(['--set', 'max_steps=2.5']), { data: ['a'] })).toThrow(/max_steps: expected an integer/)
    expect(() => buildStageConfig(stage, parse(['--set', 'model=huge']), { data: ['a'] })).toThrow(/model: expected one of tiny, small/)
    expect(() => buildStageConfig(stage, parse(['--set', 'nokey']), { data: ['a'] })).toThrow(/expected key=value/)
  })

  it('rejects unknown keys in a config file and a missing required key', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-args-'))
    const file = path.join(dir, 'c.json')
    fs.writeFileSync(file, JSON.stringify({ bogus: 1 }))
    expect(() => buildStageConfig(stage, parse(['--config', file]), { data: ['a'] })).toThrow(/bogus: unknown key/)
    expect(() => buildStageConfig(stage, parse([]), {})).toThrow(/data: is required/)
    fs.writeFileSync(file, '{not json')
    expect(() => buildStageConfig(stage, parse(['--config', file]), { data: ['a'] })).toThrow(/not valid JSON/)
    expect(() => buildStageConfig(stage, parse(['--config', path.join(dir, 'missing.json')]), {})).toThrow(/cannot read/)
    expect(() => buildStageConfig(stage, parse(['--preset', 'nope']), {})).toThrow(/unknown preset/)
  })

  it('an unknown flag is a usage error naming the command', () => {
    expect(() => parse(['--dta', 'x'])).toThrow(UsageError)
    expect(() => parse(['--dta', 'x'])).toThrow(/demo: .*--dta/)
  })
})

describe('progress formatting', () => {
  it('formats durations and a progress line', () => {
    expect(formatDuration(5)).toBe('5s')
    expect(formatDuration(65)).toBe('1m05s')
    expect(formatDuration(3725)).toBe('1h02m')
    const line = formatProgress({ step: 5, totalSteps: 10, loss: 2.5, tokensPerSec: 1234.4, etaSeconds: 30 }, 10)
    expect(line).toBe('[#####.....]  50% step 5/10 loss 2.5000 1,234 tok/s ETA 30s')
  })
})

describe('worker line protocol', () => {
  it('round-trips events including NaN and Infinity, and turns foreign lines into logs', () => {
    const line = encodeEvent({ type: 'metric', step: 3, values: { 'train/loss': NaN, 'train/grad_norm': Infinity, x: 1.5 } })
    const back = parseEventLine(line)
    expect(back?.type).toBe('metric')
    if (back?.type !== 'metric') throw new Error('unreachable')
    expect(back.values['train/loss']).toBeNaN()
    expect(back.values['train/grad_norm']).toBe(Infinity)
    expect(back.values.x).toBe(1.5)
    expect(parseEventLine('Hello from tfjs')).toEqual({ type: 'log', message: 'Hello from tfjs' })
    expect(parseEventLine('   ')).toBeNull()
  })

  it('splits chunks into lines', () => {
    const lines: string[] = []
    const splitter = new LineSplitter((l) => lines.push(l))
    splitter.push('ab')
    splitter.push('c\nde\nf')
    splitter.end()
    expect(lines).toEqual(['abc', 'de', 'f'])
  })
})
