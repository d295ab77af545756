#!/usr/bin/env node
// `npm test`: every test. Unit and component tests with Vitest, then the end-to-end browser
// tests (scripts/e2e.mjs), which say clearly when they are skipped. Ends with one plain summary
// line "tests: N passed, N failed, N skipped" and a non-zero exit code when anything failed.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const extraArgs = process.argv.slice(2)
const reportFile = join(mkdtempSync(join(tmpdir(), 'workbench-test-')), 'vitest.json')

function run(command, args) {
  const result = spawnSync(command, args, { stdio: 'inherit', env: process.env })
  return result.status ?? 1
}

const unitStatus = run('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile=${reportFile}`, ...extraArgs])
const counts = { passed: 0, failed: 0, skipped: 0 }
if (existsSync(reportFile)) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'))
  counts.passed += report.numPassedTests ?? 0
  counts.failed += report.numFailedTests ?? 0
  counts.skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0)
} else {
  counts.failed += 1
}

let e2eStatus = 0
if (extraArgs.length === 0) {
  const e2eReport = join(tmpdir(), `workbench-e2e-${process.pid}.json`)
  e2eStatus = run('node', ['scripts/e2e.mjs', `--report=${e2eReport}`])
  if (existsSync(e2eReport)) {
    const e2e = JSON.parse(readFileSync(e2eReport, 'utf8'))
    counts.passed += e2e.passed ?? 0
    counts.failed += e2e.failed ?? 0
    counts.skipped += e2e.skipped ?? 0
  } else if (e2eStatus !== 0) {
    counts.failed += 1
  }
}

console.log(`\ntests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
process.exit(unitStatus !== 0 || e2eStatus !== 0 || counts.failed > 0 ? 1 : 0)
