// Prints the WebGPU adapter Chromium offers a loopback page ("vendor / architecture") and exits 0,
// or explains what is missing and exits 1. tests/references.ts runs it (a synchronous check).
//   node --import tsx scripts/webgpu/probe.ts
import { findChromium, probeChromiumAdapter } from './harness'

if (!findChromium()) {
  console.log('Chromium was not found (looked at $CHROMIUM_PATH, /usr/bin/chromium, /usr/bin/google-chrome)')
  process.exit(1)
}
const adapter = await probeChromiumAdapter()
console.log(adapter ?? 'Chromium found, but navigator.gpu.requestAdapter() returned no adapter')
process.exit(adapter ? 0 : 1)
