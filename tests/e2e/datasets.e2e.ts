// Data in, in web mode: upload a JSONL SFT file on the Datasets screen, see its format, counts,
// the error a run would hit and the chat template with the trained tokens; drop a text file; see
// the demo's exports listed; and pick the uploaded file in the SFT form, whose picker offers only
// SFT files. Tests run in order and build on each other.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { exportDemoWorld } from '../../core/demo/export'
import { goto, waitUntil, type E2EContext, type E2ETest } from './context'

const SFT_LINES = [
  { messages: [{ role: 'user', content: 'Who sees the dog?' }, { role: 'assistant', content: 'The cat sees the dog.' }] },
  { instruction: 'Name an animal.', output: 'The owl.' },
  { messages: [{ role: 'user', content: 'No answer here' }] },
]
const SFT_TEXT = SFT_LINES.map((l) => JSON.stringify(l)).join('\n') + '\n'

function row(ctx: E2EContext, name: string) {
  return ctx.page.locator(`[data-test="dataset-row"][data-name="${name}"]`)
}

async function text(ctx: E2EContext, selector: string): Promise<string> {
  return ((await ctx.page.locator(selector).first().textContent()) ?? '').replace(/\s+/g, ' ').trim()
}

const tests: E2ETest[] = [
  {
    name: 'datasets: upload a JSONL SFT file and read its format, errors and chat template',
    async run(ctx) {
      // The demo's exports are datasets too (written here as `workbench demo` writes them).
      exportDemoWorld(join(ctx.home, 'demo', 'tiny-seed1'), { size: 'tiny', seed: 1 })
      await ctx.page.click('[data-test="nav-datasets"]')
      await ctx.page.getByRole('heading', { name: 'Datasets' }).waitFor()
      await ctx.page.setInputFiles('[data-test="upload-input-datasets"]', { name: 'chat-sft.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(SFT_TEXT) })
      const progress = ctx.page.locator('[data-test="upload-progress-datasets"]')
      await progress.filter({ hasText: 'uploaded' }).waitFor()
      const shown = await text(ctx, '[data-test="upload-progress-datasets"]')
      const bytes = Buffer.byteLength(SFT_TEXT)
      if (!shown.includes(`${bytes} B of ${bytes} B`)) throw new Error(`the upload should show its size (${bytes} B), shows: ${shown}`)
      // Saved as is, in the home's datasets folder.
      if (readFileSync(join(ctx.home, 'datasets', 'chat-sft.jsonl'), 'utf8') !== SFT_TEXT) throw new Error('the uploaded file differs from the one sent')

      await row(ctx, 'chat-sft.jsonl').waitFor()
      const format = await text(ctx, '[data-test="detail-format"]')
      if (format !== 'SFT conversations (messages)') throw new Error(`format shown: ${format}`)
      const records = await text(ctx, '[data-test="detail-records"]')
      if (records !== '2 usable of 3') throw new Error(`records shown: ${records}`)
      const error = await text(ctx, '[data-test="detail-error"]')
      if (!error.endsWith('chat-sft.jsonl:3: field "messages": has no assistant turn, so nothing to learn')) throw new Error(`error shown: ${error}`)
      // The chat template, with only the assistant's answer (and its end token) trained.
      const first = ctx.page.locator('[data-test="chat-template"]').first()
      await first.waitFor()
      const trained = (await first.locator('[data-trained="yes"]').allTextContents()).join('')
      if (trained !== 'The cat sees the dog.<|end|>') throw new Error(`trained tokens shown: ${JSON.stringify(trained)}`)
      const template = (await first.textContent()) ?? ''
      if (!template.startsWith('<s><|user|>Who sees the dog?<|end|><|assistant|>')) throw new Error(`template shown: ${template}`)
      await ctx.screenshot('datasets-01-sft-upload')
    },
  },
  {
    name: 'datasets: a second upload of one name gets a suffix; a dropped text file is a corpus',
    async run(ctx) {
      await ctx.page.setInputFiles('[data-test="upload-input-datasets"]', { name: 'chat-sft.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(SFT_TEXT) })
      await ctx.page.locator('[data-test="upload-progress-datasets"]', { hasText: 'saved as chat-sft-1.jsonl (the name was taken)' }).waitFor()
      await row(ctx, 'chat-sft-1.jsonl').waitFor()

      const drop = await ctx.page.evaluateHandle(() => {
        const dt = new DataTransfer()
        dt.items.add(new File(['The cat sees the dog.\nThe dog sees the fox.\n'], 'animals-dropped.txt', { type: 'text/plain' }))
        return dt
      })
      await ctx.page.dispatchEvent('[data-test="upload-datasets"]', 'drop', { dataTransfer: drop })
      await row(ctx, 'animals-dropped.txt').waitFor()
      const format = await text(ctx, '[data-test="detail-format"]')
      if (format !== 'text corpus') throw new Error(`a .txt file should read as a text corpus, shows: ${format}`)
      const facts = (await text(ctx, '[data-test="dataset-detail"] .facts')).replace(/\s+/g, '')
      if (!facts.includes('Characters44') || !facts.includes('Lines2')) throw new Error(`text counts shown: ${facts}`)

      // A file no loader reads is refused with the reason, and nothing is saved.
      await ctx.page.setInputFiles('[data-test="upload-input-datasets"]', { name: 'tool.exe', mimeType: 'application/octet-stream', buffer: Buffer.from('MZ') })
      const refused = await ctx.page.locator('[data-test="upload-error"]').textContent()
      if (!refused?.includes('tool.exe: not a data file')) throw new Error(`the refusal should say why, says: ${refused}`)
      // The browser logs the 400 answer as a console error; that one is expected here.
      const unexpected = ctx.problems.filter((p) => !p.includes('status of 400'))
      ctx.problems.length = 0
      ctx.problems.push(...unexpected)
      if (readdirSync(join(ctx.home, 'datasets')).some((f) => f.startsWith('.') || f === 'tool.exe')) throw new Error('a refused upload left a file behind')
    },
  },
  {
    name: 'datasets: the demo exports are listed with their formats, preference pairs previewed',
    async run(ctx) {
      await row(ctx, 'sft_train.jsonl').waitFor()
      const formatOf = async (name: string) => ((await row(ctx, name).locator('[data-test="dataset-format"]').textContent()) ?? '').trim()
      const expected: Record<string, string> = {
        'sft_train.jsonl': 'SFT conversations (messages)',
        'preferences_train.jsonl': 'preference pairs (workbench)',
        'rlhf_prompts.jsonl': 'prompt set',
        'corpus.txt': 'text corpus',
      }
      for (const [name, label] of Object.entries(expected)) {
        const shown = await formatOf(name)
        if (shown !== label) throw new Error(`${name}: format shown "${shown}", expected "${label}"`)
      }
      await row(ctx, 'preferences_train.jsonl').click()
      await ctx.page.locator('[data-test="detail-preview"] .pair').first().waitFor()
      // Every listed file gets its counts once the screen has read it.
      await waitUntil('every file read', async () => !(await ctx.page.locator('[data-test="datasets-table"]').textContent())?.includes('reading…'))
      await ctx.screenshot('datasets-02-list-and-preferences')
    },
  },
  {
    name: 'datasets: the SFT form offers only SFT files and takes the uploaded one',
    async run(ctx) {
      await goto(ctx, '#/new?stage=sft')
      await ctx.page.locator('[data-test="add-dataset-data"]').waitFor()
      // The list arrives after the form: wait for it before reading what the picker offers.
      await waitUntil('the SFT picker lists the datasets', async () => (await ctx.page.locator('[data-test="add-dataset-data"] option').count()) > 1, 15_000)
      const offered = (await ctx.page.locator('[data-test="add-dataset-data"] option').allTextContents()).slice(1)
      for (const name of ['chat-sft.jsonl', 'chat-sft-1.jsonl', 'sft_train.jsonl', 'sft_safety.jsonl']) {
        if (!offered.includes(name)) throw new Error(`the SFT picker should offer ${name}, offers: ${offered.join(', ')}`)
      }
      for (const name of ['animals-dropped.txt', 'corpus.txt', 'preferences_train.jsonl', 'rlhf_prompts.jsonl']) {
        if (offered.includes(name)) throw new Error(`the SFT picker should not offer ${name} (not SFT data)`)
      }
      await ctx.page.selectOption('[data-test="add-dataset-data"]', { label: 'chat-sft.jsonl' })
      const value = await ctx.page.inputValue('#f-data')
      if (value !== join(ctx.home, 'datasets', 'chat-sft.jsonl')) throw new Error(`the data field holds ${value}`)

      // Uploading from the field itself fills it too.
      await ctx.page.setInputFiles('[data-test="upload-input-data"]', { name: 'more-sft.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(SFT_TEXT) })
      await ctx.page.locator('[data-test="upload-progress-data"]', { hasText: 'uploaded' }).waitFor()
      const both = await ctx.page.inputValue('#f-data')
      if (both !== `${value}, ${join(ctx.home, 'datasets', 'more-sft.jsonl')}`) throw new Error(`after the upload the data field holds ${both}`)
      await ctx.screenshot('datasets-03-sft-form-picker')
    },
  },
]

export default tests
