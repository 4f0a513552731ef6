/**
 * The storage contract. Every backend (SQLite now, PostgreSQL later) implements it and is tested
 * by the one shared conformance suite in test/store-conformance.ts. The store is the queue: the
 * dispatcher claims runs from it, so a run exists durably before anything executes it.
 *
 * Methods are async so that network-backed stores fit the same contract.
 */
import type { Message } from '../core/message.js';
import type { AttemptOutput, RunLog, RunRecord, RunStatus, StepResult } from '../core/run.js';

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
  /** What the attempt wrote to `$JOBWIRE_OUTPUT` (absent: none). */
  readonly output?: AttemptOutput;
  readonly steps?: readonly StepResult[];
  /** Written in the same transaction, only if the attempt's end is. */
  readonly effects?: TransitionEffects;
}

/**
 * An entry of the transactional outbox: something to send because a transition was committed
 * (a lifecycle event to a sink, a chained message to a bus). It is written in the transaction
 * of the transition and removed once delivered, so nothing is sent for a transition that was not
 * committed and nothing is lost for one that was; `id` is stable, so receivers dedupe repeats.
 */
export interface OutboxEntry {
  /** Who delivers it: `sink:<name>` (events) or `publish:<source>` (chained messages). */
  readonly target: string;
  readonly id: string;
  /** JSON text; its shape is the target's business. */
  readonly payload: string;
}

export interface OutboxRecord extends OutboxEntry {
  readonly seq: number;
  /** Failed deliveries so far. */
  readonly attempts: number;
  readonly lastError: string | null;
  readonly createdAt: number;
}

/** A message a finished run creates for the jobs it chains to (`then: run`), with its runs. */
export interface ChainedMessage {
  readonly message: Message;
  readonly runs: readonly NewRun[];
}

/** What a committed transition brings with it, in the same transaction. */
export interface TransitionEffects {
  readonly outbox?: readonly OutboxEntry[];
  /** Only at an attempt's end; a message already recorded (same source and id) is skipped. */
  readonly messages?: readonly ChainedMessage[];
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
  markRunning(id: string, handle: string, startedAt: number, effects?: TransitionEffects): Promise<RunRecord>;
  /** Ends the current attempt: final state, or back to `queued` when `retryAt` is set. */
  finishAttempt(id: string, end: AttemptEnd): Promise<RunRecord>;
  /**
   * `queued` → `cancelled`, with `effects` (its finished event, reply, then:) in the same
   * transaction, only if it was queued. Returns the run, or undefined when it was no longer
   * queued. Throws NotFoundError for an unknown run.
   */
  cancelQueued(id: string, reason: string, now: number, effects?: TransitionEffects): Promise<RunRecord | undefined>;
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
  /** Oldest first: the next entries `target` has to deliver. */
  outboxBatch(target: string, limit: number): Promise<OutboxRecord[]>;
  /** Delivered (or given up on): gone. */
  outboxDelete(seqs: readonly number[]): Promise<void>;
  /** A delivery failed: counts it and keeps the error, so the entry shows why it waits. */
  outboxFailed(seq: number, error: string): Promise<void>;
  /** Entries waiting, per target. */
  outboxPending(): Promise<ReadonlyMap<string, number>>;
  /** Drops the oldest entries of `target` beyond `keep`; returns how many went. */
  outboxTrim(target: string, keep: number): Promise<number>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}
