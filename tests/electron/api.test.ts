import { describe, it, expect } from 'vitest'
import { ApiError, dispatch, parseArgs, CHANNELS, ARG_SCHEMAS } from '../../electron/shared/api'
import { createFakeWorld } from './fakeServices'

describe('API argument validation', () => {
  it('has one schema per channel', () => {
    expect(Object.keys(ARG_SCHEMAS).sort()).toEqual(Object.values(CHANNELS).sort())
  })

  it('rejects a bad run id with a message naming the field', () => {
    expect(() => parseArgs('runs:get', { id: '../../etc/passwd' })).toThrow(/runs:get: id: a run id is/)
    expect(() => parseArgs('runs:get', {})).toThrow(/id:/)
  })

  it('rejects unknown keys and wrong types', () => {
    expect(() => parseArgs('runs:list', { colour: 'red' })).toThrow(/runs:list/)
    expect(() => parseArgs('runs:list', { status: 'exploded' })).toThrow(/status/)
    expect(() => parseArgs('chat:generate', { requestId: 'r1', checkpoint: '/x', messages: [], temperature: 1 })).toThrow(/messages: send at least one message/)
    expect(() => parseArgs('chat:generate', { requestId: 'r1', checkpoint: '/x', messages: [{ role: 'user', content: 'hi' }], temperature: -1 })).toThrow(/temperature/)
    expect(() => parseArgs('runs:create', { stage: 'pretrain', config: {}, parents: [{ role: 'base' }] })).toThrow(/runId or a checkpointDir/)
  })

  it('fills defaults for optional arguments', () => {
    expect(parseArgs('runs:list', undefined)).toEqual({})
    expect(parseArgs('runs:metrics', { id: 'abc' })).toEqual({ id: 'abc', maxPoints: 2000 })
    const chat = parseArgs('chat:generate', { requestId: 'r1', checkpoint: '/x', messages: [{ role: 'user', content: 'hi' }] })
    expect(chat).toMatchObject({ temperature: 0.8, topP: 0.95, topK: 0, maxTokens: 128 })
  })

  it('dispatch refuses unknown methods and never calls a handler with bad arguments', async () => {
    const world = createFakeWorld()
    await expect(dispatch(world.handlers, 'runs:explode', {})).rejects.toThrow(ApiError)
    await expect(dispatch(world.handlers, 'runs:delete', { id: '' })).rejects.toThrow(/invalid arguments for runs:delete/)
    expect(world.calls).toHaveLength(0)
    await dispatch(world.handlers, 'runs:get', { id: 'run-a' })
    expect(world.calls).toEqual([{ channel: 'runs:get', args: { id: 'run-a' } }])
  })
})
