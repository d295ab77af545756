// Entry of the `workbench` bin (bin/workbench.mjs imports this file): runs the command line on
// process.argv and exits with its code. Tests import ./cli instead.
import { runCli } from './cli'
import { processIO } from './io'

const code = await runCli(process.argv.slice(2), processIO())
// Flush stdout before exiting (a pipe may still hold the last JSON lines).
process.stdout.write('', () => process.exit(code))
