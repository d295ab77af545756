// What scripts/e2e.mjs hands each end-to-end test.
import type { Page } from 'playwright-core'

export interface E2EContext {
  page: Page
  /** The URL with the access token, as `npm run serve` prints it. */
  url: string
  base: string
  token: string
  /** The temporary workbench home the server runs on. */
  home: string
  /** Console and page errors seen during the current test (the harness fails the test on any). */
  problems: string[]
  api(method: string, args?: unknown): Promise<any>
  screenshot(name: string): Promise<void>
}

export interface E2ETest {
  name: string
  run(ctx: E2EContext): Promise<void>
}

/** Polls until `check` returns a value, or fails with `what`. */
export async function waitUntil<T>(what: string, check: () => Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const value = await check()
    if (value) return value
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`)
}

/** Moves the app to a hash route (#/runs, #/compare?ids=...) as a link would. */
export async function goto(ctx: E2EContext, hash: string): Promise<void> {
  await ctx.page.evaluate((h) => {
    ;(globalThis as any).location.hash = h
  }, hash)
}
