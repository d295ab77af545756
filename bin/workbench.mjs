#!/usr/bin/env node
// The `workbench` command: loads the TypeScript CLI through tsx so that the CLI, the tests and
// the job processes all run the same sources with no build step.
import { register } from 'tsx/esm/api'
register()
await import('../core/cli/main.ts')
