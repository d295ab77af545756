#!/usr/bin/env node
// Draws the app icons from resources/icon.svg: PNGs (rasterized by Chromium through
// playwright-core), then the Windows .ico and macOS .icns containers, which both simply hold PNGs.
//
//   node scripts/make-icons.mjs        (needs Chromium: CHROMIUM_PATH or /usr/bin/chromium)
//
// The outputs are committed (resources/icon.png, icons/*.png, icon.ico, icon.icns): they change
// only when the SVG does, and packaging must not need a browser.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const resources = join(root, 'resources')

/** Sizes each container wants: Windows shows 16-256, macOS's ic07..ic10 are 128, 256, 512, 1024. */
const PNG_SIZES = [16, 32, 48, 64, 128, 256, 512, 1024]
const ICO_SIZES = [16, 32, 48, 64, 128, 256]
const ICNS_TYPES = [
  ['ic07', 128],
  ['ic08', 256],
  ['ic09', 512],
  ['ic10', 1024],
]

function findChromium() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome']
  const found = candidates.find((c) => c && existsSync(c))
  if (!found) throw new Error('make-icons: no Chromium found (set CHROMIUM_PATH)')
  return found
}

/** One transparent PNG of the SVG at size x size, drawn by the browser. */
async function rasterize(page, svg, size) {
  await page.setViewportSize({ width: size, height: size })
  const html = `<html><body style="margin:0;background:transparent">${svg.replace('<svg ', `<svg style="display:block;width:${size}px;height:${size}px" `)}</body></html>`
  await page.setContent(html)
  return page.screenshot({ omitBackground: true, clip: { x: 0, y: 0, width: size, height: size } })
}

/** ICO: a 6-byte header, one 16-byte entry per image, then the PNGs (Vista+ reads PNG entries). */
export function icoOf(images) {
  const header = Buffer.alloc(6)
  header.writeUInt16LE(0, 0) // reserved
  header.writeUInt16LE(1, 2) // 1 = icon
  header.writeUInt16LE(images.length, 4)
  let offset = 6 + 16 * images.length
  const entries = images.map(({ size, png }) => {
    const e = Buffer.alloc(16)
    e.writeUInt8(size >= 256 ? 0 : size, 0) // 0 means 256
    e.writeUInt8(size >= 256 ? 0 : size, 1)
    e.writeUInt8(0, 2) // no palette
    e.writeUInt8(0, 3)
    e.writeUInt16LE(1, 4) // colour planes
    e.writeUInt16LE(32, 6) // bits per pixel
    e.writeUInt32LE(png.length, 8)
    e.writeUInt32LE(offset, 12)
    offset += png.length
    return e
  })
  return Buffer.concat([header, ...entries, ...images.map((i) => i.png)])
}

/** ICNS: 'icns' + total length, then chunks of (4-char type, length incl. 8-byte header, PNG). */
export function icnsOf(chunks) {
  const parts = chunks.map(({ type, png }) => {
    const head = Buffer.alloc(8)
    head.write(type, 0, 'ascii')
    head.writeUInt32BE(png.length + 8, 4)
    return Buffer.concat([head, png])
  })
  const head = Buffer.alloc(8)
  head.write('icns', 0, 'ascii')
  head.writeUInt32BE(8 + parts.reduce((n, p) => n + p.length, 0), 4)
  return Buffer.concat([head, ...parts])
}

async function main() {
  const svg = readFileSync(join(resources, 'icon.svg'), 'utf8')
  const browser = await chromium.launch({ executablePath: findChromium(), args: ['--no-sandbox'] })
  const pngs = new Map()
  try {
    const page = await browser.newPage({ deviceScaleFactor: 1 })
    for (const size of PNG_SIZES) pngs.set(size, await rasterize(page, svg, size))
  } finally {
    await browser.close()
  }
  mkdirSync(join(resources, 'icons'), { recursive: true })
  // electron-builder's Linux target reads a folder of <size>x<size>.png; the others one file each.
  for (const size of PNG_SIZES) writeFileSync(join(resources, 'icons', `${size}x${size}.png`), pngs.get(size))
  writeFileSync(join(resources, 'icon.png'), pngs.get(512))
  writeFileSync(join(resources, 'icon.ico'), icoOf(ICO_SIZES.map((size) => ({ size, png: pngs.get(size) }))))
  writeFileSync(join(resources, 'icon.icns'), icnsOf(ICNS_TYPES.map(([type, size]) => ({ type, png: pngs.get(size) }))))
  console.log('make-icons: wrote resources/icon.png, icons/*.png, icon.ico, icon.icns')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main()
