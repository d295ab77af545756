import { defineConfig } from 'vitest/config'
import vue from '@vitejs/plugin-vue'

// Two test environments: plain Node for core/ and electron/, a DOM for renderer/.
// End-to-end browser tests are not run by Vitest; scripts/e2e.mjs drives them.
export default defineConfig({
  plugins: [vue()],
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          environment: 'node',
          include: ['tests/core/**/*.test.ts', 'tests/electron/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'renderer',
          environment: 'happy-dom',
          include: ['tests/renderer/**/*.test.ts'],
        },
      },
    ],
  },
})
