#!/usr/bin/env node
// End-to-end tests: the real app in web mode, driven in Chromium with playwright-core.
//
//   node scripts/e2e.mjs [--report=FILE] [--only=TEXT]
//
// Each tests/e2e/*.e2e.ts file default-exports a list of { name, run(ctx) } run in order, sharing
// one web server on a fresh temporary home (later flows build on earlier runs, as a person would).
// Screenshots go to test-results/screenshots/. With no Chromium the tests are skipped with a clear
// message, except under CI=true, where that is a failure.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const options = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')))
const screenshotDir = join(root, 'test-results', 'screenshots')

function findChromium() {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']
  return candidates.find((c) => c && existsSync(c))
}

function writeReport(counts) {
  if (options.report) writeFileSync(options.report, JSON.stringify(counts))
}

async function loadTests() {
  const { register } = await import('tsx/esm/api')
  register()
  const dir = join(root, 'tests', 'e2e')
  const files = readdirSync(dir).filter((f) => f.endsWith('.e2e.ts')).sort()
  const tests = []
  for (const file of files) {
    const mod = await import(pathToFileURL(join(dir, file)).href)
    for (const t of mod.default) tests.push({ ...t, file })
  }
  return tests.filter((t) => !options.only || t.name.includes(options.only))
}

function buildRenderer() {
  const result = spawnSync(process.execPath, [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'renderer/vite.web.config.ts', '--logLevel', 'error'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error('building the renderer failed')
}

/** Starts `serve.ts` on a temp home and resolves with its URL once it prints it. */
function startServer(home, token) {
  const tsx = pathToFileURL(require.resolve('tsx')).href
  const child = spawn(process.execPath, ['--import', tsx, join(root, 'electron/server/serve.ts'), '--home', home], {
    cwd: root,
    env: { ...process.env, WORKBENCH_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  const url = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the web server did not start within 60 s:\n${log}`)), 60_000)
    child.stdout.on('data', (chunk) => {
      log += chunk
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(log)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    child.stderr.on('data', (chunk) => (log += chunk))
    child.on('exit', (code) => reject(new Error(`the web server exited (code ${code}):\n${log}`)))
  })
  return { child, url, log: () => log }
}

async function main() {
  const chromium = findChromium()
  const tests = await loadTests()
  if (!chromium) {
    const ci = process.env.CI === 'true'
    console.log(`e2e: ${ci ? 'FAILED' : 'skipped'}: no Chromium found (looked at CHROMIUM_PATH, /usr/bin/chromium, chromium-browser, google-chrome)${ci ? ' and CI=true requires one' : ''}`)
    writeReport({ passed: 0, failed: ci ? 1 : 0, skipped: ci ? 0 : tests.length })
    process.exit(ci ? 1 : 0)
  }

  buildRenderer()
  mkdirSync(screenshotDir, { recursive: true })
  const home = mkdtempSync(join(tmpdir(), 'workbench-e2e-'))
  const token = randomBytes(18).toString('base64url')
  const server = startServer(home, token)
  const { chromium: pw } = await import('playwright-core')
  let browser
  const counts = { passed: 0, failed: 0, skipped: 0 }
  try {
    const url = await server.url
    const base = new URL(url).origin
    browser = await pw.launch({
      executablePath: chromium,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
    })
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } })
    const problems = []
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`)
    })
    const ctx = {
      page,
      url,
      base,
      token,
      home,
      problems,
      /** Calls the API directly (for setup and checks), like the page does. */
      async api(method, args = {}) {
        const res = await fetch(`${base}/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-workbench-token': token }, body: JSON.stringify(args) })
        const body = await res.json()
        if (!body.ok) throw new Error(`${method}: ${body.error}`)
        return body.result
      },
      async screenshot(name) {
        await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true })
      },
    }
    await page.goto(url)
    for (const test of tests) {
      const started = Date.now()
      problems.length = 0
      try {
        await test.run(ctx)
        if (problems.length > 0) throw new Error(`the page reported errors:\n  ${problems.join('\n  ')}`)
        counts.passed += 1
        console.log(`  ✓ ${test.name} (${((Date.now() - started) / 1000).toFixed(1)}s)`)
      } catch (error) {
        counts.failed += 1
        console.log(`  ✗ ${test.name}\n    ${String(error?.stack ?? error).split('\n').slice(0, 6).join('\n    ')}`)
        await ctx.screenshot(`FAILED-${test.name.replace(/[^a-z0-9]+/gi, '-')}`).catch(() => {})
      }
    }
  } catch (error) {
    counts.failed += 1
    console.log(`e2e: could not run: ${error.message}`)
  } finally {
    await browser?.close().catch(() => {})
    server.child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 500))
    if (!options.keep) rmSync(home, { recursive: true, force: true })
  }
  console.log(`e2e: ${counts.passed} passed, ${counts.failed} failed (screenshots in ${screenshotDir})`)
  writeReport(counts)
  process.exit(counts.failed > 0 ? 1 : 0)
}

main().catch((error) => {
  console.error(`e2e: ${error.stack ?? error}`)
  writeReport({ passed: 0, failed: 1, skipped: 0 })
  process.exit(1)
})
