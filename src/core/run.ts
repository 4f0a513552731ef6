/**
 * A run is one execution of one job for one message. Its states:
 *
 *   queued ──► starting ──► running ──► succeeded
 *     ▲  │                     │  └───► failed ──(attempts left)──► queued (after backoff)
 *     │  └──► cancelled         ├──────► timed_out ─(attempts left)─► queued
 *     │                        └──────► cancelled
 *     └──────────── retry (API) from any final state
 *
 * `starting` means the dispatcher has claimed the run and is preparing the executor; a run
 * found `starting` or `running` at start-up was orphaned by a crash and is reconciled.
 */
export const RUN_STATUSES = [
  'queued',
  'starting',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
] as const;

export type RunStatus = (typeof RUN_STATUSES)[number];

export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);
export const ACTIVE_STATUSES: ReadonlySet<RunStatus> = new Set(['starting', 'running']);

export function isRunStatus(value: string): value is RunStatus {
  return (RUN_STATUSES as readonly string[]).includes(value);
}

export interface RunRecord {
  readonly id: string;
  readonly job: string;
  readonly messageId: string;
  readonly source: string;
  readonly correlationId: string;
  readonly status: RunStatus;
  readonly priority: number;
  /** Attempts started so far (0 while first queued). */
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly exitCode: number | null;
  /** Why the run ended the way it did, in words (`exit code 3`, `timed out after 10s`, …). */
  readonly reason: string | null;
  readonly executor: string;
  /** Executor-specific handle of the current attempt (pid, Kubernetes Job name). */
  readonly handle: string | null;
  /** Insertion order; ties between equal priorities go to the lower sequence. */
  readonly seq: number;
  readonly createdAt: number;
  /** The run may not start before this time (retry backoff). */
  readonly availableAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  /** The JSON object the last ended attempt wrote to `$JOBWIRE_OUTPUT`, if any. */
  readonly output: Readonly<Record<string, unknown>> | null;
  /** Why that attempt's output could not be taken (too large, not a JSON object). */
  readonly outputError: string | null;
  /** Per-step outcome of the last ended attempt, for a job with `steps`. */
  readonly steps: readonly StepResult[] | null;
}

/**
 * What an attempt wrote to the file named by `$JOBWIRE_OUTPUT`, read when it ended: nothing, a
 * JSON object (bounded by `limits.maxOutputSize`), or why it could not be taken (too large, not
 * JSON, not an object). An invalid output is recorded on the run; it never fails the run.
 */
export type AttemptOutput =
  | { readonly kind: 'none' }
  | { readonly kind: 'json'; readonly value: Readonly<Record<string, unknown>> }
  | { readonly kind: 'invalid'; readonly error: string };

/** `limits.maxOutputSize` when the config sets none. */
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/** How one of a job's `steps` went, in the order they are defined. */
export interface StepResult {
  readonly name: string;
  /** `skipped`: an earlier step failed (without `continueOnError`) or the attempt was stopped. */
  readonly status: 'succeeded' | 'failed' | 'skipped';
  readonly exitCode: number | null;
  readonly durationMs: number | null;
  readonly continueOnError: boolean;
}

/** Captured output of one attempt, bounded: head and tail are kept, the middle is dropped. */
export interface RunLog {
  readonly runId: string;
  readonly attempt: number;
  readonly text: string;
  readonly droppedBytes: number;
  readonly totalBytes: number;
}
