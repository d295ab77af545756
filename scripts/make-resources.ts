// Writes resources/configs/<stage>.json: each registered stage's default config, from its schema.
// Run after changing a stage's defaults:  npx tsx scripts/make-resources.ts
// (tests/core/resources.test.ts fails while a file differs from its schema's defaults.)
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { defaultsFile, defaultsOf } from '../core/config/defaults'
import { listStages } from '../core/train/stages/registry'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

for (const stage of listStages()) {
  const file = defaultsFile(root, stage.name)
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, JSON.stringify(defaultsOf(stage.fields), null, 2) + '\n')
  console.log(`wrote ${path.relative(root, file)}`)
}
