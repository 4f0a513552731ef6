/**
 * The arrow from the dispatcher to a runtime. An executor turns a fully resolved RunSpec into a
 * running attempt and reports how it ended; the dispatcher owns retries, timeouts (it calls
 * `stop`) and state. A new runtime is one file implementing `Executor`.
 */
import type { RuntimeOptions } from '../config/types.js';
import type { AttemptOutput, RunRecord, StepResult } from '../core/run.js';

/** A file placed in the run's working directory. */
export interface RunFile {
  /** Path relative to the working directory (kept from the config's folder layout). */
  readonly path: string;
  /** Absolute path it is copied from, or inline content. */
  readonly from?: string;
  readonly content?: string;
}

/** Everything an attempt needs, resolved: no expression is evaluated past this point. */
export interface RunSpec {
  readonly runId: string;
  readonly job: string;
  readonly attempt: number;
  readonly messageId: string;
  readonly source: string;
  readonly correlationId: string;
  /** argv: `command`+`args`, `["bash", "-c", script]` or the step driver's. Never contains message data. */
  readonly argv: readonly string[];
  /** A job with `steps`: what the step driver in `argv` runs, in order, for the attempt's `steps`. */
  readonly steps?: readonly StepPlan[];
  /** Job env (literals, evaluated expressions, JSONPath values, secrets) plus JOBWIRE_* vars. */
  readonly env: Readonly<Record<string, string>>;
  readonly files: readonly RunFile[];
  /** The normalized message as JSON; written to a file whose path is in JOBWIRE_MESSAGE. */
  readonly messageJson: string;
  /** Absolute working directory chosen by the job, or undefined for a fresh per-run folder. */
  readonly workingDir?: string;
  readonly image?: string;
  readonly timeoutMs?: number;
  /** Env vars read from a Kubernetes Secret by the cluster (`secretKeyRef`); never resolved here. */
  readonly secretEnv: readonly SecretEnvRef[];
  /** The job's own runtime fields; the executor fills in its defaults. */
  readonly runtime: RuntimeOptions;
  /** The job's retry limit, for runtimes that retry themselves (Kubernetes `backoffLimit`). */
  readonly retryLimit: number;
  /** Largest `$JOBWIRE_OUTPUT` file taken (`limits.maxOutputSize`); a larger one is an invalid output. */
  readonly maxOutputBytes: number;
}

/** One step of a run, as the executor reports it (steps-driver.ts, step-results.ts). */
export interface StepPlan {
  readonly name: string;
  readonly continueOnError: boolean;
}

export interface SecretEnvRef {
  /** Env var name in the container. */
  readonly name: string;
  readonly secret: string;
  readonly key: string;
}

export interface CapturedLog {
  readonly text: string;
  readonly droppedBytes: number;
  readonly totalBytes: number;
}

/**
 * How an attempt ended, from the runtime's point of view. `endedAt` is set when the runtime
 * knows when it ended (ms since the epoch) — it matters for an attempt that ended while no
 * jobwire was watching; otherwise the dispatcher's clock at the report is the end.
 */
export type AttemptResult = (
  | { readonly kind: 'exited'; readonly exitCode: number; readonly log: CapturedLog }
  | { readonly kind: 'signaled'; readonly signal: string; readonly log: CapturedLog }
  /** Stopped on request (timeout, cancel, shutdown): the dispatcher knows which. */
  | { readonly kind: 'stopped'; readonly log: CapturedLog }
  | { readonly kind: 'error'; readonly error: Error; readonly log: CapturedLog }
) & {
  readonly endedAt?: number;
  /** What the attempt wrote to `$JOBWIRE_OUTPUT`; undefined = the runtime cannot tell (treated as none). */
  readonly output?: AttemptOutput;
  /** Per-step outcome, for a job with `steps`. */
  readonly steps?: readonly StepResult[];
};

export type StopReason = 'timeout' | 'cancel' | 'shutdown';

export interface Attempt {
  /** Executor-specific handle stored with the run (pid, Kubernetes Job name). */
  readonly handle: string;
  readonly done: Promise<AttemptResult>;
  /** Ask the attempt to stop (kill the process group, delete the Job). Idempotent. */
  stop(reason: StopReason): void;
  /** Output captured so far (fresh, not a cached snapshot), for live log views. */
  readLog(): Promise<CapturedLog>;
  /** When the attempt really started (ms since the epoch), if the runtime knows. */
  readonly startedAt?: number;
  /**
   * The attempt's end is recorded in the store: the runtime may forget what it kept so a
   * restarted jobwire could learn it (the spawner's record of the exit).
   */
  release?(): void;
  /**
   * jobwire shuts down and leaves this attempt running for the next start to adopt: stop
   * watching it, and keep everything it needs (its folder, its process).
   */
  leave?(): void;
}

/** What an executor found of an attempt left in flight by a previous jobwire process. */
export type RecoveredAttempt =
  /** Still running, or ended while jobwire was down: `done` resolves with its true end. */
  | { readonly kind: 'adopted'; readonly attempt: Attempt }
  /** It never started (claimed, not yet spawned): the run is queued again, this attempt uncounted. */
  | { readonly kind: 'not-started'; readonly reason: string }
  /** It started and its fate cannot be known (the machine restarted): retries apply. */
  | { readonly kind: 'lost'; readonly reason: string };

/** An executor's own view of its health, shown as JSON by `GET /v1/executors`. */
export type ExecutorStatus = { readonly [field: string]: unknown };

export interface Executor {
  readonly name: string;
  readonly type: string;
  /**
   * True when the runtime retries failed attempts itself (a Kubernetes Job's `backoffLimit`):
   * the dispatcher then records one attempt and does not retry an attempt that failed, only a
   * start that threw RetryableError.
   */
  readonly retriesInRuntime?: boolean;
  /**
   * True when attempts keep running without jobwire (a Kubernetes Job): a shutdown then leaves
   * them running instead of stopping them, and `recover` adopts them at the next start.
   */
  readonly attemptsSurviveRestart?: boolean;
  /**
   * True when attempts can be left running at a shutdown and adopted by the next start, if the
   * user asks for it (`dispatcher.onShutdown: leave`); they always survive a crash of jobwire.
   */
  readonly canLeaveAttempts?: boolean;
  /**
   * Starts an attempt; resolves once it is really running (the process spawned, the Job
   * created). Throws PermanentError when the spec cannot run at all, RetryableError when it may
   * work later.
   */
  start(spec: RunSpec): Promise<Attempt>;
  /** Optional: set up at start-up (start helpers, connect) so the first run does not pay for it. */
  prepare?(): void;
  /** Optional: what the runtime looks like from here (connections, watches, limits), for the API. */
  status?(): ExecutorStatus;
  /** Finds an attempt of `run` that a crashed jobwire left behind. */
  recover(run: RunRecord): Promise<RecoveredAttempt>;
  /** Optional: every run was reconciled; what recovery found and no run claimed can go. */
  recovered?(): Promise<void>;
  close(): Promise<void>;
}
