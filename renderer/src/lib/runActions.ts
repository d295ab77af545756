// Which actions a run's page offers. Resume reruns the stored config, so a run that failed because
// its config is invalid (a ConfigError: "invalid pretrain config: ...") would only fail again.

export interface RunState {
  status: string
  error?: string | null
}

/** The run failed on its config (the message of core/config/schema.ts's ConfigError). */
export function failedOnConfig(run: RunState): boolean {
  return run.status === 'failed' && /^invalid [\w-]+ config:/.test(run.error ?? '')
}

export function canResume(run: RunState): boolean {
  return ['stopped', 'interrupted', 'failed'].includes(run.status) && !failedOnConfig(run)
}
