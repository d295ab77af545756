// The references some tests compare against: PyTorch (Debian's python3-torch), the native
// matmul addon (native/fastgemm) and a Chromium that offers WebGPU (scripts/webgpu/). Where one is missing, its tests are skipped with a warning that
// names it; in CI (CI=true), where .ci/run installs both, a missing one FAILS instead, with a
// message saying what is missing and how to get it. Every test that needs a reference goes
// through describeWith (or referencePresent) here, so that rule lives in one place.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, it } from 'vitest'
import { loadFastGemm } from '../core/backend/kernels/nativeMatMul'

export type ReferenceName = 'torch' | 'native-matmul' | 'chromium-webgpu'

interface Reference {
  what: string
  howToGet: string
  find: () => boolean
}

// Debian's python3-torch lives under /usr/bin/python3, which a pyenv shim on PATH may hide.
const PYTHON_CANDIDATES = [process.env.WORKBENCH_PYTHON, '/usr/bin/python3', 'python3'].filter((p): p is string => !!p)

let torchPythonFound: string | null | undefined

/** The first python that can `import torch`, or null (looked up once). */
export function torchPython(): string | null {
  if (torchPythonFound === undefined) {
    torchPythonFound = PYTHON_CANDIDATES.find((p) => spawnSync(p, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 }).status === 0) ?? null
  }
  return torchPythonFound
}

const REFERENCES: Record<ReferenceName, Reference> = {
  torch: {
    what: 'PyTorch (a python3 that can `import torch`, looked for at $WORKBENCH_PYTHON, /usr/bin/python3, python3)',
    howToGet: 'apt-get install python3-torch libopenblas0-pthread',
    find: () => torchPython() !== null,
  },
  'native-matmul': {
    what: 'the native matmul addon (native/fastgemm/build, not switched off by WORKBENCH_NATIVE_MATMUL=0)',
    howToGet: 'npm run build:native (needs a C compiler: apt-get install build-essential)',
    find: () => loadFastGemm() !== null,
  },
  'chromium-webgpu': {
    what: 'a Chromium with a WebGPU adapter (looked for at $CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/google-chrome; its software adapter SwiftShader will do)',
    howToGet: 'apt-get install chromium (scripts/webgpu/probe.ts says what it finds)',
    find: () => spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '../scripts/webgpu/probe.ts')], { stdio: 'ignore', timeout: 120_000 }).status === 0,
  },
}

const found = new Map<ReferenceName, boolean>()
const warned = new Set<ReferenceName>()

function inCi(): boolean {
  return process.env.CI === 'true'
}

/** What a missing reference's failure (or skip warning) says. */
export function missingReferenceMessage(name: ReferenceName): string {
  const ref = REFERENCES[name]
  return `${ref.what} is missing: ${ref.howToGet}`
}

/** Whether the reference is here. Outside CI a missing one warns once; in CI it throws. */
export function referencePresent(name: ReferenceName): boolean {
  if (!found.has(name)) found.set(name, REFERENCES[name].find())
  if (found.get(name)) return true
  if (inCi()) throw new Error(`CI=true, but ${missingReferenceMessage(name)}`)
  if (!warned.has(name)) {
    warned.add(name)
    console.warn(`[test] ${missingReferenceMessage(name)}; the tests that need it are skipped`)
  }
  return false
}

/**
 * A describe block whose tests need a reference: run when it is present; skipped (with a warning)
 * when it is missing outside CI; in CI a missing reference becomes one failing test that says what
 * is missing, while the rest of the file still runs.
 */
export function describeWith(name: ReferenceName, title: string, body: () => void): void {
  let present: boolean
  try {
    present = referencePresent(name)
  } catch (err) {
    describe(title, () => {
      it(`has ${name}`, () => {
        throw err
      })
    })
    return
  }
  if (present) describe(title, body)
  else describe.skip(title, body)
}
