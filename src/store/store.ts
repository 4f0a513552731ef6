/**
 * The storage contract. Every backend (SQLite now, PostgreSQL later) implements it and is tested
 * by the one shared conformance suite in test/store-conformance.ts. The store is the queue: the
 * dispatcher claims runs from it, so a run exists durably before anything executes it.
 *
 * Methods are async so that network-backed stores fit the same contract.
 */
import type { Message } from '../core/message.js';
import type { RunLog, RunRecord, RunStatus } from '../core/run.js';

export interface NewRun {
  readonly id: string;
  readonly job: string;
  readonly priority: number;
  readonly maxAttempts: number;
  readonly executor: string;
}

export interface AcceptResult {
  /** True when the message (same source and id) was already recorded: nothing new was created. */
  readonly duplicate: boolean;
  /** The runs created for this message — now, or when it was first accepted. */
  readonly runs: readonly RunRecord[];
}

export interface StoredMessage extends Message {
  /** Names of the jobs it matched when it was accepted. */
  readonly matchedJobs: readonly string[];
}

export interface RunFilter {
  readonly job?: string;
  readonly status?: RunStatus;
  readonly correlationId?: string;
  readonly messageId?: string;
  /** Opaque cursor from a previous page's `nextCursor`. */
  readonly cursor?: string;
  readonly limit: number;
}

export interface RunPage {
  readonly runs: readonly RunRecord[];
  readonly nextCursor: string | null;
}

export interface ClaimRequest {
  readonly now: number;
  readonly limit: number;
  /** Jobs at their concurrency limit: their runs stay queued. */
  readonly excludeJobs: readonly string[];
}

/** How an attempt ended, as the dispatcher decided it. */
export interface AttemptEnd {
  readonly status: 'succeeded' | 'failed' | 'timed_out' | 'cancelled';
  readonly exitCode: number | null;
  readonly reason: string | null;
  readonly finishedAt: number;
  readonly log: Omit<RunLog, 'runId'> | null;
  /** When set (and the status is failed/timed_out), the run goes back to `queued` until then. */
  readonly retryAt?: number;
}

export interface StoreStats {
  readonly queued: number;
  readonly active: number;
}

export interface Store {
  /** Records the message and its runs in one transaction; a duplicate creates nothing. */
  acceptMessage(message: Message, matchedJobs: readonly string[], runs: readonly NewRun[]): Promise<AcceptResult>;
  getMessage(source: string, id: string): Promise<StoredMessage | undefined>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(filter: RunFilter): Promise<RunPage>;
  /**
   * Moves up to `limit` runs from `queued` (available now, job not excluded) to `starting`,
   * highest priority first then oldest, and counts the attempt. Returns the claimed runs.
   */
  claimRuns(request: ClaimRequest): Promise<RunRecord[]>;
  /** `starting` → `running`, with the executor's handle (pid, Job name). */
  markRunning(id: string, handle: string, startedAt: number): Promise<RunRecord>;
  /** Ends the current attempt: final state, or back to `queued` when `retryAt` is set. */
  finishAttempt(id: string, end: AttemptEnd): Promise<RunRecord>;
  /**
   * `queued` → `cancelled`. Returns the run, or undefined when it was no longer queued.
   * Throws NotFoundError for an unknown run.
   */
  cancelQueued(id: string, reason: string, now: number): Promise<RunRecord | undefined>;
  /** A final run goes back to `queued`, with one more attempt allowed. Throws ConflictError if not final. */
  retryRun(id: string, now: number): Promise<RunRecord>;
  /**
   * `starting` → `queued` with the attempt uncounted: it never started (found at start-up).
   * Throws NotFoundError for an unknown run, ConflictError when it is not `starting`.
   */
  requeueUnstarted(id: string): Promise<RunRecord>;
  /** Runs in `starting` or `running`: at start-up these were orphaned by a crash. */
  activeRuns(): Promise<RunRecord[]>;
  /** Earliest `availableAt` among queued runs, for the dispatcher's next wake-up. */
  nextAvailableAt(): Promise<number | undefined>;
  getLogs(runId: string): Promise<RunLog[]>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
