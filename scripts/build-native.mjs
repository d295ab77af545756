// postinstall: builds the native matmul (native/fastgemm) with node-gyp, the way npm builds any
// native package. It is an accelerator, not a requirement: when there is no compiler (or no Node
// headers), install still succeeds and training uses the wasm backend's own matmul, with one line
// saying so. `npm run build:native` runs it again.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const addonDir = path.join(root, 'native', 'fastgemm')

/** npm tells its scripts where its bundled node-gyp is; else look beside this Node's npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ]
  return candidates.find((c) => c && fs.existsSync(c)) ?? null
}

function main() {
  if (process.env.WORKBENCH_SKIP_NATIVE === '1') return console.log('[workbench] WORKBENCH_SKIP_NATIVE=1: native matmul not built')
  const nodeGyp = findNodeGyp()
  if (!nodeGyp) return console.warn('[workbench] node-gyp not found: native matmul not built; training uses the wasm matmul')
  const started = Date.now()
  const run = spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: addonDir, encoding: 'utf8', env: process.env })
  if (run.status !== 0) {
    const detail = `${run.stderr ?? ''}${run.stdout ?? ''}`.split('\n').filter((l) => /error|ERR!/i.test(l)).slice(0, 3).join(' | ')
    return console.warn(`[workbench] native matmul not built (node-gyp exit ${run.status}): training uses the wasm matmul. ${detail}`)
  }
  console.log(`[workbench] native matmul built in ${((Date.now() - started) / 1000).toFixed(1)} s (native/fastgemm)`)
}

main()
