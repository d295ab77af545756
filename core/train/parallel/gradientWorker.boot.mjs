// Entry of a gradient worker thread. Node 20 does not carry the tsx loader (registered with
// --import in the parent) into worker threads, so the worker registers it before loading the
// TypeScript worker itself.
import { register } from 'tsx/esm/api'

register()
await import('./gradientWorker.ts')
