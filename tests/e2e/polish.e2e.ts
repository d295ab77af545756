// Polish (issue 15, item 10): the dark theme (the system's setting and the app's own toggle, kept
// across reloads), an 800x600 window where the nav folds into a menu and nothing falls off-screen
// on any screen, and long sample prompts cut between words. The runs are written straight into
// the store, as a CLI run on the same home would be.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Store } from '../../core/tracking/store'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

const LONG_PROMPT =
  'Once upon a time the quiet river wandered through the meadow past the old mill, where the miller and his daughter ' +
  'watched the boats carry grain towards the distant harbour town, and every evening the lanterns along the water ' +
  'were lit one after another until the whole valley shimmered like a necklace of small golden stars.'

let runA = ''
let runB = ''

function writeRun(home: string, name: string): string {
  const store = Store.open(home)
  try {
    const run = store.createRun({ experiment: 'polish', name, stage: 'pretrain', config: { dim: 32, lr: 0.001 }, status: 'running' })
    const metrics = Array.from({ length: 30 }, (_, step) => [
      { step, key: 'train/loss', value: 5 * Math.exp(-step / 10) + 0.5, wallTime: Date.now() + step },
      { step, key: 'train/lr', value: 0.001 * Math.min(1, (step + 1) / 5), wallTime: Date.now() + step },
    ]).flat()
    store.recordBatch(run.id, { metrics, samples: [{ step: 20, prompt: LONG_PROMPT, response: ' and the stars were bright.', time: Date.now() }] })
    store.finishRun(run.id, 'finished')
    return run.id
  } finally {
    store.close()
  }
}

/** Two finished runs with charts and a long sample prompt (each test may run alone with --only). */
function ensureRuns(ctx: E2EContext) {
  if (runA) return
  runA = writeRun(ctx.home, 'polish-a')
  runB = writeRun(ctx.home, 'polish-b')
}

/** The relative luminance (0 black .. 1 white) of an element's computed background. */
async function backgroundLuminance(ctx: E2EContext, selector: string): Promise<number> {
  const rgb = await ctx.page.locator(selector).first().evaluate((el) => getComputedStyle(el).backgroundColor)
  const [r, g, b] = rgb.match(/\d+(\.\d+)?/g)!.slice(0, 3).map(Number)
  return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
}

const currentTheme = (ctx: E2EContext) => ctx.page.evaluate(() => document.documentElement.dataset.theme)

/**
 * Elements whose box lies (partly) outside the window horizontally and cannot be reached by
 * scrolling an element that holds them: what "falls off-screen" means to a person.
 */
async function offscreen(ctx: E2EContext): Promise<string[]> {
  return ctx.page.evaluate(() => {
    const width = document.documentElement.clientWidth
    const out: string[] = []
    if (document.documentElement.scrollWidth > width) out.push(`the page scrolls sideways (${document.documentElement.scrollWidth} > ${width} px)`)
    // (No helper functions in here: tsx would wrap them in a __name the page does not have.)
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      const box = el.getBoundingClientRect()
      if ((box.width === 0 && box.height === 0) || (box.left >= -1 && box.right <= width + 1)) continue
      let holder = el.parentElement
      let reachable = false
      for (; holder && holder !== document.body; holder = holder.parentElement) {
        const held = holder.getBoundingClientRect()
        if (getComputedStyle(holder).overflowX !== 'visible' && held.left >= -1 && held.right <= width + 1) {
          reachable = true
          break
        }
      }
      if (!reachable) {
        const name = `${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''}`
        out.push(`${name} [${Math.round(box.left)}..${Math.round(box.right)}] "${(el.textContent ?? '').trim().slice(0, 40)}"`)
      }
    }
    return out.slice(0, 10)
  })
}

/** Each main screen, and what shows once its data has loaded (the layout is final then). */
const SCREENS = [
  { name: 'runs', hash: '#/runs', ready: '[data-test="runs-table"] tbody tr' },
  { name: 'run', hash: () => `#/runs/${encodeURIComponent(runA)}`, ready: '[data-test="chart"]' },
  { name: 'new', hash: '#/new', ready: '[data-test="load-defaults"]' },
  { name: 'compare', hash: () => `#/compare?ids=${runA},${runB}`, ready: '[data-test="compare-chart"] canvas' },
  { name: 'chat', hash: '#/chat', ready: 'h1:has-text("Chat playground")' },
  { name: 'preferences', hash: '#/preferences', ready: 'h1:has-text("Preferences")' },
  { name: 'safety', hash: '#/safety', ready: 'h1:has-text("Safety")' },
  { name: 'winrate', hash: '#/winrate', ready: 'h1:has-text("Win rate")' },
  { name: 'leaderboard', hash: '#/leaderboard', ready: 'h1:has-text("Leaderboard")' },
  { name: 'datasets', hash: '#/datasets', ready: 'h1:has-text("Datasets")' },
  { name: 'rlhf', hash: '#/rlhf', ready: 'h1:has-text("RLHF")' },
]

const tests: E2ETest[] = [
  {
    name: 'polish: dark mode follows the system, the toggle overrides it and is kept across a reload',
    async run(ctx) {
      ensureRuns(ctx)
      const { page } = ctx
      try {
        await page.emulateMedia({ colorScheme: 'dark' })
        await page.selectOption('[data-test="theme"]', 'system')
        await goto(ctx, `#/runs/${encodeURIComponent(runA)}`)
        await page.locator('[data-test="chart"] canvas').first().waitFor()
        await waitUntil('the dark theme from the system', async () => (await currentTheme(ctx)) === 'dark', 5000)
        if ((await backgroundLuminance(ctx, '.chart')) > 0.25) throw new Error('a chart panel is still light in the dark theme')
        const axis = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--chart-axis').trim())
        if (axis !== '#c3c9d2') throw new Error(`chart axis colour in the dark theme: ${axis}`)
        // Every screen in the dark: screenshots, and no light panel left behind.
        for (const screen of SCREENS) {
          await goto(ctx, typeof screen.hash === 'function' ? screen.hash() : screen.hash)
          await page.locator(screen.ready).first().waitFor()
          for (const selector of ['html', '.table', '.chart', '.group', 'input', 'select']) {
            if ((await page.locator(selector).count()) === 0) continue
            const luminance = await backgroundLuminance(ctx, selector)
            if (luminance > 0.25) throw new Error(`${screen.name}: ${selector} is light (luminance ${luminance.toFixed(2)}) in the dark theme`)
          }
          await ctx.screenshot(`polish-dark-${screen.name}`)
        }
        await goto(ctx, '#/runs')
        await page.locator('h1:has-text("Runs")').waitFor()

        // The toggle wins over the system, and survives a reload.
        await page.selectOption('[data-test="theme"]', 'light')
        await waitUntil('the light theme from the toggle', async () => (await currentTheme(ctx)) === 'light', 5000)
        await page.goto(ctx.url)
        await page.locator('h1:has-text("Runs")').waitFor()
        if ((await currentTheme(ctx)) !== 'light') throw new Error('the light choice was not kept across a reload')
        if ((await backgroundLuminance(ctx, '.table')) < 0.8) throw new Error('the runs table is not light in the light theme')

        // Back to the system's choice: the light system makes it light again.
        await page.selectOption('[data-test="theme"]', 'system')
        await waitUntil('dark again with the system', async () => (await currentTheme(ctx)) === 'dark', 5000)
        await page.emulateMedia({ colorScheme: 'light' })
        await waitUntil('light when the system turns light', async () => (await currentTheme(ctx)) === 'light', 5000)
      } finally {
        await page.emulateMedia({ colorScheme: 'light' })
      }
    },
  },
  {
    name: 'polish: at 800x600 the nav folds into a menu and no screen falls off the window',
    async run(ctx) {
      ensureRuns(ctx)
      const { page } = ctx
      const before = page.viewportSize()
      try {
        await page.setViewportSize({ width: 800, height: 600 })
        for (const screen of SCREENS) {
          await goto(ctx, typeof screen.hash === 'function' ? screen.hash() : screen.hash)
          await page
            .locator(screen.ready)
            .first()
            .waitFor()
            .catch(async (error: Error) => {
              await ctx.screenshot(`FAILED-polish-800x600-${screen.name}`)
              throw new Error(`${screen.name}: ${error.message}`)
            })
          await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
          if (await page.locator('[data-test="sidebar"]').isVisible()) throw new Error(`${screen.name}: the sidebar is not folded at 800 px`)
          if (!(await page.locator('[data-test="nav-toggle"]').isVisible())) throw new Error(`${screen.name}: no menu button at 800 px`)
          const problems = await offscreen(ctx)
          if (problems.length > 0) throw new Error(`${screen.name} at 800x600: off-screen:\n  ${problems.join('\n  ')}`)
          await ctx.screenshot(`polish-800x600-${screen.name}`)
        }
        // The menu opens over the page, fits the window, and closes on picking a screen.
        await page.click('[data-test="nav-toggle"]')
        const box = await page.locator('[data-test="sidebar"]').boundingBox()
        if (!box || box.x < 0 || box.x + box.width > 800) throw new Error(`the opened menu does not fit the window: ${JSON.stringify(box)}`)
        await ctx.screenshot('polish-800x600-menu')
        await page.click('[data-test="nav-runs"]')
        await page.locator('h1:has-text("Runs")').waitFor()
        if (await page.locator('[data-test="sidebar"]').isVisible()) throw new Error('the menu stayed open after picking a screen')
      } finally {
        await page.setViewportSize(before ?? { width: 1400, height: 900 })
      }
      if (!(await page.locator('[data-test="sidebar"]').isVisible())) throw new Error('the sidebar did not come back at full width')
    },
  },
  {
    name: 'polish: a long sample prompt is cut between words, whole on hover and behind "more"',
    async run(ctx) {
      ensureRuns(ctx)
      const { page } = ctx
      await goto(ctx, `#/runs/${encodeURIComponent(runA)}`)
      await page.click('[data-test="tab-samples"]')
      const clipped = page.locator('[data-test="samples"] [data-test="clipped-text"]').first()
      await clipped.waitFor()
      const shown = (await clipped.evaluate((el) => el.firstChild?.textContent ?? '')).trim()
      if (!shown.endsWith('…')) throw new Error(`the long prompt is not marked as cut: "${shown}"`)
      const kept = shown.slice(0, -1)
      if (!LONG_PROMPT.startsWith(kept) || LONG_PROMPT[kept.length] !== ' ') throw new Error(`the prompt is cut inside a word: "${shown}"`)
      if ((await clipped.getAttribute('title')) !== LONG_PROMPT) throw new Error('hovering does not show the whole prompt')
      await ctx.screenshot('polish-sample-prompt')
      await clipped.locator('[data-test="clipped-more"]').click()
      const full = (await clipped.evaluate((el) => el.firstChild?.textContent ?? '')).trim()
      if (full !== LONG_PROMPT) throw new Error(`"more" does not show the whole prompt: "${full.slice(0, 60)}..."`)
    },
  },
  {
    name: 'polish: New run loads the shipped defaults, and the data pickers offer the demo prompt sets',
    async run(ctx) {
      const { page } = ctx
      await goto(ctx, '#/new')
      await page.locator('[data-test="load-defaults"]').waitFor()
      await page.fill('#f-lr', '0.5')
      await page.fill('#f-max_steps', '7')
      await page.click('[data-test="load-defaults"]')
      const shipped = JSON.parse(readFileSync(join(process.cwd(), 'resources', 'configs', 'pretrain.json'), 'utf8'))
      const [lr, steps] = [await page.inputValue('#f-lr'), await page.inputValue('#f-max_steps')]
      if (Number(lr) !== shipped.lr || Number(steps) !== shipped.max_steps) throw new Error(`Load defaults left lr=${lr}, max_steps=${steps}`)
      // A text corpus is pretraining's data; the prompt sets are offered where a stage reads prompts.
      const corpusPicker = await page.locator('[data-test="add-dataset-data"] option').allTextContents()
      if (corpusPicker.some((name) => name.endsWith('.jsonl'))) throw new Error(`the corpus picker offers prompt sets: ${corpusPicker.join(', ')}`)
      await page.selectOption('[data-test="stage"]', 'rejection_sampling')
      // Labels carry the folder when two offered files share a name (the demo writes an adversarial.jsonl too): compare paths.
      const offered = await page.locator('#dl-prompts option').evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))
      for (const set of ['general.jsonl', 'adversarial.jsonl', 'borderline.jsonl', 'multiturn.jsonl']) {
        if (!offered.includes(join(process.cwd(), 'resources', 'prompts', set))) throw new Error(`the data picker does not offer ${set}: ${offered.join(', ')}`)
      }
      if (offered.some((name) => name.endsWith('.json') && !name.endsWith('.jsonl'))) throw new Error(`the data picker offers config files: ${offered.join(', ')}`)
    },
  },
]

export default tests
