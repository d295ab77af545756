// Replacing one of a backend's own kernels (BatchMatMul, Add) with a native one that falls back to
// the original for the inputs it does not cover. tfjs looks kernels up by name and backend at
// every call, so the replacement is an unregister and a register; gradients, found by kernel name,
// are untouched.
import { tf } from '../tf'

const replacements = new Map<string, tf.KernelFunc>()

/**
 * Replaces `kernelName` on `backendName` with make(original kernel). Idempotent: a second call
 * keeps the first replacement. False (nothing changes) when the backend has no such kernel.
 */
export function overrideKernel(kernelName: string, backendName: string, make: (fallback: tf.KernelFunc) => tf.KernelFunc): boolean {
  const key = `${kernelName}/${backendName}`
  const current = tf.getKernel(kernelName, backendName)
  if (!current) return false
  if (current.kernelFunc === replacements.get(key)) return true
  const kernelFunc = make(current.kernelFunc)
  tf.unregisterKernel(kernelName, backendName)
  tf.registerKernel({ ...current, kernelFunc })
  replacements.set(key, kernelFunc)
  return true
}

/** True when `kernelName` on `backendName` is the replacement overrideKernel registered. */
export function isOverridden(kernelName: string, backendName: string): boolean {
  const replacement = replacements.get(`${kernelName}/${backendName}`)
  return replacement !== undefined && tf.getKernel(kernelName, backendName)?.kernelFunc === replacement
}
