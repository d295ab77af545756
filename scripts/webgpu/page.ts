// The entry of the Chromium page the WebGPU checks run in (bundled by harness.ts): initialises
// tfjs on the page's WebGPU adapter and exposes the workload to the harness as `globalThis.workbench`.
import { initWebGpu } from '../../core/backend/webgpu'
import { runStepCase, timeGeneration, timeTraining } from './workload'

const CHROMIUM_HELP = 'Chromium exposes WebGPU with --enable-unsafe-webgpu, and on machines without a GPU driver its software adapter with --enable-unsafe-swiftshader --use-webgpu-adapter=swiftshader, on a secure (https or loopback http) page.'

const api = {
  init: () => initWebGpu(CHROMIUM_HELP),
  runStepCase,
  timeTraining,
  timeGeneration,
}

export type PageApi = typeof api
;(globalThis as { workbench?: PageApi }).workbench = api
