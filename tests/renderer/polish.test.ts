// Polish helpers: word-boundary truncation, theme resolution, stored settings, when to notify.
import { describe, it, expect, vi } from 'vitest'
import { truncateWords } from '../../renderer/src/lib/format'
import { resolveTheme } from '../../renderer/src/lib/theme'
import { DEFAULT_SETTINGS, parseSettings } from '../../renderer/src/lib/settings'
import { MIN_NOTIFY_SECONDS, notificationText, runSeconds, shouldNotify, watchRunEndings } from '../../renderer/src/lib/notify'

describe('truncateWords', () => {
  it('returns text that fits unchanged', () => {
    expect(truncateWords('the river ran', 13)).toBe('the river ran')
    expect(truncateWords('', 5)).toBe('')
  })

  it('cuts after the last whole word, with an ellipsis, never inside a word', () => {
    expect(truncateWords('the river ran through the town', 13)).toBe('the river…')
    expect(truncateWords('the river ran through the town', 14)).toBe('the river ran…')
    expect(truncateWords('the river ran through the town', 16)).toBe('the river ran…')
    for (let max = 4; max < 30; max++) {
      const out = truncateWords('the river ran through the town', max)
      expect(out.length, String(max)).toBeLessThanOrEqual(max)
      const kept = out.replace(/…$/, '').split(' ')
      for (const word of kept) expect(['the', 'river', 'ran', 'through', 'town'], `${max}: ${out}`).toContain(word)
    }
  })

  it('keeps a word that ends exactly at the cut, and cuts newlines and tabs as spaces', () => {
    expect(truncateWords('alpha beta gamma', 11)).toBe('alpha beta…')
    expect(truncateWords('alpha\nbeta gamma', 12)).toBe('alpha\nbeta…')
  })

  it('cuts inside a single word longer than the limit (there is no boundary)', () => {
    expect(truncateWords('supercalifragilistic', 8)).toBe('superca…')
  })
})

describe('theme', () => {
  it('follows the system only when the choice is "system"', () => {
    expect(resolveTheme('system', true)).toBe('dark')
    expect(resolveTheme('system', false)).toBe('light')
    expect(resolveTheme('light', true)).toBe('light')
    expect(resolveTheme('dark', false)).toBe('dark')
  })

  it('reads stored settings, falling back to the defaults on anything unreadable', () => {
    expect(parseSettings(null)).toEqual(DEFAULT_SETTINGS)
    expect(parseSettings('{not json')).toEqual(DEFAULT_SETTINGS)
    expect(parseSettings('{"theme":"purple","notifyRuns":"yes"}')).toEqual(DEFAULT_SETTINGS)
    expect(parseSettings('{"theme":"dark","notifyRuns":false}')).toEqual({ theme: 'dark', notifyRuns: false })
  })
})

describe('run notifications', () => {
  const base = { status: 'finished' as const, seconds: 120, hidden: true, enabled: true, permission: 'granted' as const }

  it('notifies a long run that finished or failed while the app was in the background', () => {
    expect(shouldNotify(base)).toBe(true)
    expect(shouldNotify({ ...base, status: 'failed' })).toBe(true)
    expect(shouldNotify({ ...base, seconds: MIN_NOTIFY_SECONDS })).toBe(true)
  })

  it('stays quiet for short runs, a visible app, the setting off, no permission, or other endings', () => {
    expect(shouldNotify({ ...base, seconds: MIN_NOTIFY_SECONDS - 1 })).toBe(false)
    expect(shouldNotify({ ...base, seconds: undefined })).toBe(false)
    expect(shouldNotify({ ...base, hidden: false })).toBe(false)
    expect(shouldNotify({ ...base, enabled: false })).toBe(false)
    expect(shouldNotify({ ...base, permission: 'default' })).toBe(false)
    expect(shouldNotify({ ...base, permission: 'unsupported' })).toBe(false)
    expect(shouldNotify({ ...base, status: 'stopped' })).toBe(false)
    expect(shouldNotify({ ...base, status: 'running' })).toBe(false)
  })

  it('names the run, its stage and duration, and the first line of a failure', () => {
    expect(notificationText({ id: 'r1', name: 'tiny', stage: 'pretrain', status: 'finished' }, 125)).toEqual({ title: 'tiny finished', body: 'pretrain run, 2m 5s' })
    expect(notificationText({ id: 'r2', name: '', stage: 'sft', status: 'failed', error: 'out of memory\nstack' }, 61)).toEqual({ title: 'r2 failed', body: 'sft run, 1m 1s · out of memory' })
  })

  it('measures a run from its start to its end, or to now while the end is not recorded', () => {
    expect(runSeconds({ createdAt: 0, startedAt: 1000, endedAt: 61_000 }, 99_000)).toBe(60)
    expect(runSeconds({ createdAt: 1000, startedAt: undefined, endedAt: undefined }, 31_000)).toBe(30)
  })
})

describe('watchRunEndings', () => {
  /** A fake API whose run:update listener the test fires by hand. */
  function fakeApi(run: Record<string, unknown>) {
    let listener: ((u: { id: string; status?: string }) => unknown) | null = null
    return {
      api: {
        on: (_event: string, l: typeof listener) => {
          listener = l
          return () => (listener = null)
        },
        runsGet: async () => run,
      } as any,
      fire: (u: { id: string; status?: string }) => listener?.(u),
    }
  }

  function setHidden(hidden: boolean) {
    Object.defineProperty(document, 'hidden', { value: hidden, configurable: true })
  }

  it('notifies once the page is hidden and a long run finishes; not while the page is visible', async () => {
    vi.stubGlobal('Notification', { permission: 'granted' })
    const shown: string[] = []
    const { api, fire } = fakeApi({ id: 'r1', name: 'tiny', stage: 'pretrain', status: 'finished', createdAt: 0, startedAt: 1_000, endedAt: 301_000 })
    const stop = watchRunEndings(api, () => true, (title) => shown.push(title))
    try {
      setHidden(false)
      await fire({ id: 'r1', status: 'finished' })
      expect(shown).toEqual([])
      setHidden(true)
      await fire({ id: 'r1', status: 'running' })
      await fire({ id: 'r1', status: 'finished' })
      expect(shown).toEqual(['tiny finished'])
    } finally {
      stop()
      setHidden(false)
      vi.unstubAllGlobals()
    }
  })

  it('stays quiet with the setting off or a short run', async () => {
    vi.stubGlobal('Notification', { permission: 'granted' })
    const shown: string[] = []
    setHidden(true)
    try {
      const short = fakeApi({ id: 'r2', name: 'quick', stage: 'sft', status: 'failed', createdAt: 0, startedAt: 1_000, endedAt: 20_000 })
      const stopShort = watchRunEndings(short.api, () => true, (title) => shown.push(title))
      await short.fire({ id: 'r2', status: 'failed' })
      stopShort()
      const off = fakeApi({ id: 'r3', name: 'long', stage: 'sft', status: 'failed', createdAt: 0, startedAt: 1_000, endedAt: 900_000 })
      const stopOff = watchRunEndings(off.api, () => false, (title) => shown.push(title))
      await off.fire({ id: 'r3', status: 'failed' })
      stopOff()
      expect(shown).toEqual([])
    } finally {
      setHidden(false)
      vi.unstubAllGlobals()
    }
  })
})
