// The single place tensor code imports TensorFlow.js from. core/backend/index.ts decides which
// backend (tfjs-node-gpu, tfjs-node, wasm, cpu) this tf runs on.
import * as tf from '@tensorflow/tfjs'

export { tf }
