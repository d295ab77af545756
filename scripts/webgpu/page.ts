// The entry of the Chromium page the WebGPU checks run in (bundled by harness.ts): initialises
// tfjs on the page's WebGPU adapter and exposes the workload to the harness as `globalThis.workbench`.
import { initWebGpu } from '../../core/backend/webgpu'
import { globalNorm, greedyTokens, runStepCase, timeGeneration, timeTraining } from './workload'

// Generation (core/model/generate.ts) yields to Node's event loop with setImmediate between steps;
// a page has none. A MessageChannel message is the browser's equivalent (setTimeout(0) would be
// clamped to 4 ms once nested, which would slow every generated token).
const g = globalThis as { setImmediate?: (callback: () => void) => void }
if (!g.setImmediate) {
  const channel = new MessageChannel()
  const waiting: (() => void)[] = []
  channel.port1.onmessage = () => waiting.shift()?.()
  g.setImmediate = (callback) => {
    waiting.push(callback)
    channel.port2.postMessage(null)
  }
}

const CHROMIUM_HELP = 'Chromium exposes WebGPU with --enable-unsafe-webgpu, and on machines without a GPU driver its software adapter with --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader, on a secure (https or loopback http) page.'

const api = {
  init: () => initWebGpu(CHROMIUM_HELP),
  runStepCase,
  greedyTokens,
  globalNorm,
  timeTraining,
  timeGeneration,
}

export type PageApi = typeof api
;(globalThis as { workbench?: PageApi }).workbench = api
