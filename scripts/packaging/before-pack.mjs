// electron-builder beforePack hook: builds the native matmul (native/fastgemm) for the platform
// being packed, so the installer carries a fastgemm.node compiled for it. node-gyp cannot
// cross-compile, so packing for another OS than this one stops with a clear message (build each
// platform's installers on that platform, e.g. a CI matrix). The addon uses N-API: the same binary
// loads in Node and in Electron, no Electron-specific rebuild is needed.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const ADDON = path.join(root, 'native', 'fastgemm', 'build', 'Release', 'fastgemm.node')

/** electron-builder's arch enum: 0 ia32, 1 x64, 2 armv7l, 3 arm64, 4 universal. */
const ARCH_NAMES = ['ia32', 'x64', 'armv7l', 'arm64', 'universal']

export default async function beforePack(context) {
  const platform = context.electronPlatformName
  const arch = ARCH_NAMES[context.arch] ?? String(context.arch)
  if (platform !== process.platform || arch !== process.arch) {
    throw new Error(`workbench: the native matmul is built with node-gyp for this machine (${process.platform}-${process.arch}) and cannot be cross-compiled for ${platform}-${arch}: build that installer on a ${platform}-${arch} machine`)
  }
  const run = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, stdio: 'inherit' })
  if (run.status !== 0 || !fs.existsSync(ADDON)) {
    throw new Error(`workbench: the native matmul did not build (${ADDON} is missing); see the lines above`)
  }
}
