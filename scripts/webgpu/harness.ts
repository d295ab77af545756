// Runs the WebGPU workload (workload.ts) in Chromium: bundles page.ts with esbuild, serves it on a
// loopback http address (WebGPU needs a secure context; data: and file: pages have none), opens it
// in a headless Chromium through playwright-core and initialises tfjs's webgpu backend there.
// On machines without a GPU driver Chromium's software adapter (SwiftShader) is used: correct, but
// no faster than the CPU. Used by tests/core/webgpu.browser.test.ts and bench/webgpu.ts.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build, type Plugin } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { BackendInfo } from '../../core/train/stages/types'
import type { PageApi } from './page'
import type { StepCase, StepResult, Timing } from './workload'

const HERE = path.dirname(fileURLToPath(import.meta.url))

/**
 * WebGPU on, including on a software adapter. SwiftShader is only used where no hardware adapter
 * exists unless WORKBENCH_WEBGPU_ADAPTER=swiftshader forces it (the default `auto` lets a real GPU win).
 */
export function chromiumWebGpuFlags(adapter = process.env.WORKBENCH_WEBGPU_ADAPTER ?? 'auto'): string[] {
  const flags = ['--enable-unsafe-webgpu', '--enable-unsafe-swiftshader']
  return adapter === 'swiftshader' ? [...flags, '--use-webgpu-adapter=swiftshader'] : flags
}

export function findChromium(): string | null {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']
  return candidates.find((c): c is string => !!c && fs.existsSync(c)) ?? null
}

/**
 * The page imports model code that imports Node modules only for the native matmul (never used in
 * a browser): those imports get a stand-in that throws if anything is called, except node:path's
 * string joins, which nativeMatMul.ts calls once at load.
 */
const nodeBuiltinsStandIn: Plugin = {
  name: 'node-builtins-stand-in',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'node-stand-in' }))
    b.onLoad({ filter: /.*/, namespace: 'node-stand-in' }, (args) => ({
      contents: `const unavailable = () => { throw new Error('${args.path} is not available in the browser') }
        const strings = ${args.path === 'node:path' ? "{ sep: '/', join: (...p) => p.join('/'), dirname: (p) => p.slice(0, p.lastIndexOf('/')) }" : '{}'}
        export default new Proxy(strings, { get: (target, key) => target[key] ?? unavailable })
        export const createRequire = unavailable, fileURLToPath = unavailable`,
    }))
  },
}

async function bundlePage(): Promise<string> {
  const result = await build({
    entryPoints: [path.join(HERE, 'page.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'error',
    plugins: [nodeBuiltinsStandIn],
  })
  return result.outputFiles[0].text
}

/** Serves the page and its script on 127.0.0.1 (a random port). */
async function serve(script: string): Promise<http.Server> {
  const html = '<!doctype html><meta charset="utf-8"><title>workbench webgpu</title><script type="module" src="/page.js"></script>'
  const server = http.createServer((req, res) => {
    const isScript = req.url === '/page.js'
    res.writeHead(200, { 'content-type': isScript ? 'text/javascript' : 'text/html' })
    res.end(isScript ? script : html)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

export interface WebGpuPage {
  /** The backend as a run would record it, with the adapter's vendor and architecture. */
  backend: BackendInfo
  runStepCase(c: StepCase): Promise<StepResult>
  greedyTokens(...args: Parameters<PageApi['greedyTokens']>): Promise<number[][]>
  globalNorm(...args: Parameters<PageApi['globalNorm']>): ReturnType<PageApi['globalNorm']>
  timeTraining(...args: Parameters<PageApi['timeTraining']>): Promise<Timing>
  timeGeneration(...args: Parameters<PageApi['timeGeneration']>): Promise<Timing>
  close(): Promise<void>
}

/** Calls `workbench[name](...args)` in the page. */
function callPage<K extends keyof PageApi>(page: Page, name: K, args: unknown[]): Promise<Awaited<ReturnType<PageApi[K]>>> {
  return page.evaluate(
    ([n, a]) => (globalThis as unknown as { workbench: Record<string, (...x: unknown[]) => unknown> }).workbench[n as string](...(a as unknown[])),
    [name, args] as const,
  ) as Promise<Awaited<ReturnType<PageApi[K]>>>
}

/**
 * Opens the page in Chromium and initialises the webgpu backend there. Throws when Chromium is
 * missing, or with the page's "no WebGPU adapter was found" error when it has no adapter.
 */
export async function openWebGpuPage(): Promise<WebGpuPage> {
  const executablePath = findChromium()
  if (!executablePath) throw new Error('Chromium was not found (looked at $CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/google-chrome): apt-get install chromium')
  const server = await serve(await bundlePage())
  let browser: Browser | null = null
  const close = async () => {
    await browser?.close()
    server.close()
  }
  try {
    browser = await chromium.launch({ executablePath, headless: true, args: chromiumWebGpuFlags() })
    const page = await browser.newPage()
    const pageErrors: string[] = []
    page.on('pageerror', (err) => pageErrors.push(err.message))
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    await page.waitForFunction(() => 'workbench' in globalThis, null, { timeout: 60_000 }).catch(() => {
      throw new Error(`the WebGPU page did not load: ${pageErrors.join('; ') || 'no error reported'}`)
    })
    const backend = await callPage(page, 'init', [])
    return {
      backend,
      runStepCase: (c) => callPage(page, 'runStepCase', [c]),
      greedyTokens: (...args) => callPage(page, 'greedyTokens', args),
      globalNorm: (...args) => callPage(page, 'globalNorm', args),
      timeTraining: (...args) => callPage(page, 'timeTraining', args),
      timeGeneration: (...args) => callPage(page, 'timeGeneration', args),
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

/**
 * Whether Chromium gives a loopback page a WebGPU adapter: its description (vendor / architecture),
 * or null. Cheaper than openWebGpuPage (nothing is bundled); tests/references.ts calls it through
 * probe.ts to decide whether the WebGPU tests can run.
 */
export async function probeChromiumAdapter(): Promise<string | null> {
  const executablePath = findChromium()
  if (!executablePath) return null
  const server = await serve('')
  const browser = await chromium.launch({ executablePath, headless: true, args: chromiumWebGpuFlags() })
  try {
    const page = await browser.newPage()
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    return await page.evaluate(async () => {
      type Info = { vendor?: string; architecture?: string }
      const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Info } | null> } }).gpu
      const adapter = await gpu?.requestAdapter()
      return adapter ? `${adapter.info?.vendor ?? '?'} / ${adapter.info?.architecture ?? '?'}` : null
    })
  } finally {
    await browser.close()
    server.close()
  }
}
