// The raw (unsmoothed) line under a smoothed one must stay readable in both themes: at a quarter
// opacity the palette's colours were 1.2:1 against the dark chart panel, close to invisible.
import { describe, it, expect } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PALETTE, rawAndSmoothed, strokeOf } from '../../renderer/src/lib/chartLines'
import type { Theme } from '../../renderer/src/lib/theme'

const css = readFileSync(join(__dirname, '../../renderer/src/style.css'), 'utf8')

/** The chart panel's background in a theme, as style.css sets it (--panel). */
function panel(theme: Theme): number[] {
  const block = theme === 'light' ? css.slice(css.indexOf(':root {')) : css.slice(css.indexOf(":root[data-theme='dark'] {"))
  const hex = /--panel:\s*(#[0-9a-f]{6})/i.exec(block)![1]
  return rgb(hex)
}

function rgb(hex: string): number[] {
  const n = parseInt(hex.slice(1), 16)
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255]
}

/** 'rgba(r, g, b, a)' or '#rrggbb' drawn over a background: the colour a reader sees. */
function seenOver(color: string, background: number[]): number[] {
  const m = /rgba\((\d+), (\d+), (\d+), ([\d.]+)\)/.exec(color)
  if (!m) return rgb(color)
  const alpha = Number(m[4])
  return [1, 2, 3].map((i, c) => Number(m[i]) * alpha + background[c] * (1 - alpha))
}

/** WCAG contrast ratio of two colours. */
function contrast(a: number[], b: number[]): number {
  const luminance = (c: number[]) => {
    const [r, g, bl] = c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl
  }
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return (hi + 0.05) / (lo + 0.05)
}

describe('chart line colours', () => {
  for (const theme of ['light', 'dark'] as const) {
    it(`draws the raw line readable but fainter than the smoothed one in the ${theme} theme`, () => {
      const background = panel(theme)
      for (const color of PALETTE) {
        const [raw, smoothed] = rawAndSmoothed({ label: 'loss', x: [1, 2], y: [3, 2], color, smoothing: 0.6 })
        const rawContrast = contrast(seenOver(strokeOf(raw, 0, theme), background), background)
        const smoothedContrast = contrast(seenOver(strokeOf(smoothed, 1, theme), background), background)
        expect(rawContrast, `${color} raw on ${theme}`).toBeGreaterThan(1.75)
        expect(rawContrast, `${color} raw below smoothed on ${theme}`).toBeLessThan(smoothedContrast)
      }
    })
  }
})
