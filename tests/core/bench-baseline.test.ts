// The model bench's peak-RSS guard (bench/baseline.ts): a row more than 10% above its recorded
// figure is reported (the bench then exits 1); rows within it, or never recorded, are not.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, it, expect } from 'vitest'
import { rssRegressions, saveBaseline } from '../../bench/baseline'

describe('bench peak-RSS baseline', () => {
  it('records rows and reports only those more than 10% above their figure', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wb-baseline-')), 'baseline.json')
    const mb = 2 ** 20
    saveBaseline([{ key: 'tiny 1t', peakRssBytes: 500 * mb }, { key: 'small 1t', peakRssBytes: 2000 * mb }], file)
    expect(rssRegressions([{ key: 'tiny 1t', peakRssBytes: 549 * mb }, { key: 'small 1t', peakRssBytes: 1500 * mb }, { key: 'new row', peakRssBytes: 9000 * mb }], file)).toEqual([])
    const problems = rssRegressions([{ key: 'tiny 1t', peakRssBytes: 560 * mb }], file)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain('tiny 1t: peak RSS 560 MB is 12% above the baseline 500 MB')
    // Saving again replaces that row's figure and keeps the others.
    saveBaseline([{ key: 'tiny 1t', peakRssBytes: 560 * mb }], file)
    expect(JSON.parse(fs.readFileSync(file, 'utf8')).peakRssBytes).toEqual({ 'tiny 1t': 560 * mb, 'small 1t': 2000 * mb })
  })

  it('names the file when it is not a baseline', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wb-baseline-')), 'baseline.json')
    fs.writeFileSync(file, '{"rows": []}')
    expect(() => rssRegressions([], file)).toThrow(/baseline\.json: expected an object "peakRssBytes"/)
  })
})
