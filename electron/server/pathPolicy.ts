// Which paths the API may hand to a run (web mode and the desktop app alike): every path-like
// config field, declared as such in the stage's field list (`type: 'path'`, or a `pathKind`), and
// every parent checkpoint folder, must lie inside the workbench home or resources/, or be a file
// the user picked with the native dialog. Outputs only inside the home.
//
// The checks look at the path text first and touch the disk only inside the allowed roots, so an
// error never tells whether something exists elsewhere (`/etc/passwd` gets the same answer as
// `/no/such/file`).

import fs from 'node:fs'
import path from 'node:path'
import type { ConfigField, PathKind } from '../../core/config/schema'

export interface PathPolicy {
  /** The workbench home (absolute). */
  home: string
  /** Other folders runs may read from (the project's resources/). */
  readRoots: string[]
  /** Files the user picked with the native dialog: readable even outside the roots. */
  picked: ReadonlySet<string>
  /** True when `ref` names a recorded run (a full id or a unique prefix). */
  isRecordedRun(ref: string): boolean
}

/** A path the policy refused; `field` names the config key (or parent) it came from. */
export class PathNotAllowedError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message)
    this.name = 'PathNotAllowedError'
  }
}

/** The declared kind of a config field's paths, or null when the field holds no path. */
export function pathKindOf(field: ConfigField): PathKind | null {
  if (field.pathKind) return field.pathKind
  return field.type === 'path' ? 'input' : null
}

/** Checks every declared path field of `config` and every parent folder; throws PathNotAllowedError. */
export function checkRunPaths(
  fields: readonly ConfigField[],
  config: Record<string, unknown>,
  parents: readonly { role: string; checkpointDir?: string }[],
  policy: PathPolicy,
): void {
  for (const field of fields) {
    const kind = pathKindOf(field)
    if (!kind) continue
    const value = config[field.key]
    const values = Array.isArray(value) ? value : [value]
    for (const v of values) if (typeof v === 'string' && v !== '') checkOne(v, kind, field.key, policy)
  }
  for (const p of parents) if (p.checkpointDir) checkPath(p.checkpointDir, 'input', `parent ${p.role}`, policy)
}

/** A single path (e.g. a chat checkpoint) against the read roots. */
export function checkReadablePath(p: string, what: string, policy: PathPolicy): void {
  checkPath(p, 'input', what, policy)
}

function checkOne(value: string, kind: PathKind, key: string, policy: PathPolicy): void {
  // A checkpoint reference is a run id or a folder; a bare id never touches the disk here.
  if (kind === 'model' && !looksLikePath(value)) {
    if (policy.isRecordedRun(value)) return
    throw new PathNotAllowedError(key, `${key}: "${value}" is not the id of a recorded run; give a run id or a checkpoint folder inside the workbench home (${policy.home})`)
  }
  checkPath(value, kind === 'output' ? 'output' : 'input', key, policy)
}

function looksLikePath(value: string): boolean {
  return value.includes('/') || value.includes('\\') || value.startsWith('.') || value.startsWith('~') || path.isAbsolute(value)
}

function checkPath(p: string, access: 'input' | 'output', what: string, policy: PathPolicy): void {
  const roots = access === 'output' ? [policy.home] : [policy.home, ...policy.readRoots]
  const refuse = () =>
    new PathNotAllowedError(
      what,
      access === 'output'
        ? `${what}: ${p} is outside the workbench home (${policy.home}); runs write only inside it`
        : `${what}: ${p} is outside the workbench home (${policy.home}); upload it (Upload… next to the field, or the Datasets screen), copy it into ${path.join(policy.home, 'datasets')}, or in the desktop app pick it with Browse…`,
    )
  if (!path.isAbsolute(p)) throw new PathNotAllowedError(what, `${what}: ${p} is not an absolute path; give the full path of a file inside the workbench home (${policy.home})`)
  const abs = path.resolve(p)
  if (access === 'input' && policy.picked.has(abs)) return
  const root = roots.find((r) => isInside(abs, r))
  if (!root) throw refuse()
  // Inside a root by its text; a symlink in there must not lead back out.
  const real = realPathOrNull(abs)
  if (real !== null && !roots.some((r) => isInside(real, realPathOrNull(r) ?? r))) throw refuse()
}

function isInside(abs: string, root: string): boolean {
  const r = path.resolve(root)
  return abs === r || abs.startsWith(r + path.sep)
}

function realPathOrNull(p: string): string | null {
  try {
    return fs.realpathSync(p)
  } catch {
    return null
  }
}
