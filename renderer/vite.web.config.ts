// Web mode build of the renderer: the same app, served by electron/server/web.ts.
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root: here,
  base: '/',
  plugins: [vue()],
  build: {
    outDir: fileURLToPath(new URL('../dist-web', import.meta.url)),
    emptyOutDir: true,
    // The CSP forbids inline scripts; keep every module a file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
})
