// The electron-builder configuration. The Electron binary cannot be downloaded on this machine, so
// the installers themselves are not built here (README, "Packaging"); what can be checked is: the
// file loads the way electron-builder loads it, passes electron-builder's own schema validation,
// targets the four installer kinds, and names files that exist.
import { describe, it, expect } from 'vitest'
import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

const root = path.resolve(__dirname, '..', '..')
const require = createRequire(path.join(root, 'package.json'))
// electron-builder's own loader and validator (the functions `electron-builder` calls first).
const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config') as {
  getConfig(projectDir: string, configPath: string | null): Promise<any>
  validateConfiguration(config: unknown, debugLogger: unknown): Promise<void>
}
const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown }

const CONFIG = path.join(root, 'electron-builder.yml')
const loadConfig = () => getConfig(root, CONFIG)
const targetsOf = (platform: { target?: (string | { target: string })[] }) => (platform.target ?? []).map((t) => (typeof t === 'string' ? t : t.target))

describe('electron-builder configuration', () => {
  it('passes electron-builder schema validation', async () => {
    await expect(validateConfiguration(await loadConfig(), new DebugLogger(false))).resolves.toBeUndefined()
  })

  it('the validation does catch a wrong option (so the check above means something)', async () => {
    const config = { ...(await loadConfig()), linux: { target: ['AppImage'], notAnOption: true } }
    await expect(validateConfiguration(config, new DebugLogger(false))).rejects.toThrow(/configuration\.linux/)
  })

  it('targets AppImage and deb on Linux, dmg on macOS, nsis on Windows', async () => {
    const config = await loadConfig()
    expect(targetsOf(config.linux)).toEqual(['AppImage', 'deb'])
    expect(targetsOf(config.mac)).toEqual(['dmg'])
    expect(targetsOf(config.win)).toEqual(['nsis'])
  })

  it('names icons, resources and a hook that exist', async () => {
    const config = await loadConfig()
    for (const file of [config.mac.icon, config.win.icon, config.linux.icon, config.directories.buildResources, config.beforePack]) {
      expect(fs.existsSync(path.join(root, file)), file).toBe(true)
    }
    expect(fs.readdirSync(path.join(root, config.linux.icon)).filter((f: string) => /^\d+x\d+\.png$/.test(f)).length).toBeGreaterThanOrEqual(4)
    expect(typeof (await import(pathToFileURL(path.join(root, config.beforePack)).href)).default).toBe('function')
  })

  it('packs the built app, the sources the services run, resources/ and the native addon; rebuilds native deps for Electron', async () => {
    const config = await loadConfig()
    // The loader normalises `files` to file sets: [{ filter: [...] }].
    const files: string[] = config.files.flatMap((set: string | { filter: string[] }) => (typeof set === 'string' ? [set] : set.filter))
    for (const entry of ['package.json', 'out/**/*', 'core/**/*.ts', 'electron/server/**/*.ts', 'electron/shared/**/*.ts', 'resources/**/*', 'native/fastgemm/build/Release/fastgemm.node']) {
      expect(files, entry).toContain(entry)
    }
    // The folders the globs start from exist in the repository (out/ and build/ are build outputs).
    for (const dir of ['core', 'electron/server', 'electron/shared', 'resources', 'native/fastgemm']) expect(fs.existsSync(path.join(root, dir)), dir).toBe(true)
    expect(fs.existsSync(path.join(root, 'electron/server/stdio.ts'))).toBe(true)
    expect(config.npmRebuild).toBe(true)
    expect(config.asar).toBe(false)
  })

  it('`npm run dist` builds with electron-vite then electron-builder, and main is what electron-vite writes', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
    expect(pkg.scripts.dist).toBe('electron-vite build && electron-builder --config electron-builder.yml')
    expect(pkg.main).toBe('out/main/index.js')
    const vite = fs.readFileSync(path.join(root, 'electron.vite.config.ts'), 'utf8')
    expect(vite).toContain("outDir: 'out/main'")
    expect(vite).toContain("entryFileNames: '[name].js'")
    expect(fs.existsSync(path.join(root, 'electron/main/index.ts'))).toBe(true)
    expect(pkg.devDependencies['electron-builder']).toBeDefined()
    expect(pkg.dependencies.electron).toBeUndefined()
  })
})
