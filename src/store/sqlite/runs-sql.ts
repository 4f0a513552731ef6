/**
 * SQL for the `runs` table: the queue and the history in one.
 *
 * Every state change is a single `UPDATE … WHERE <key> AND status IN (allowed) RETURNING …`:
 * the guard on the current status is part of the write, so a transition that is no longer legal
 * (another process got there first) changes nothing, and the caller turns "no row" into
 * NotFoundError or ConflictError. The legal transitions are the state machine in core/run.ts.
 *
 * Claiming walks the `runs_claim` partial index (queued runs by priority DESC, seq) and stops
 * after `limit` matches. Queued runs still waiting out a retry backoff are skipped while walking,
 * which is cheap as long as backoffs are a minority of the queue (they are: a retry waits, a
 * new run does not).
 */

/** Every column, in the order of `RunRow`: used by SELECT and RETURNING alike. */
const RUN_COLUMNS = `seq, id, job, message_source, message_id, correlation_id, status, priority, attempts,
  max_attempts, exit_code, reason, executor, handle, created_at, available_at, started_at, finished_at,
  output, output_error, steps`;

export interface InsertRunParams {
  readonly id: string;
  readonly job: string;
  readonly source: string;
  readonly messageId: string;
  readonly correlationId: string;
  readonly priority: number;
  readonly maxAttempts: number;
  readonly executor: string;
  readonly now: number;
}

/**
 * A new run is queued with no attempt yet, available from the moment its message arrived. No
 * RETURNING: every column but `seq` is known to the caller, and `seq` is the rowid the insert
 * reports — INSERT … RETURNING measured ~3x the cost of the insert itself.
 */
export const INSERT_RUN = `
  INSERT INTO runs (id, job, message_source, message_id, correlation_id, status, priority, attempts,
                    max_attempts, executor, created_at, available_at)
  VALUES (@id, @job, @source, @messageId, @correlationId, 'queued', @priority, 0,
          @maxAttempts, @executor, @now, @now)`;

export interface RunIdParams {
  readonly id: string;
}

export const SELECT_RUN = `SELECT ${RUN_COLUMNS} FROM runs WHERE id = @id`;

export interface MessageRunsParams {
  readonly source: string;
  readonly messageId: string;
}

export const SELECT_MESSAGE_RUNS = `
  SELECT ${RUN_COLUMNS} FROM runs
  WHERE message_id = @messageId AND message_source = @source ORDER BY seq`;

export interface ClaimCandidatesParams {
  readonly now: number;
  readonly limit: number;
}

export interface ClaimCandidatesExcludingParams extends ClaimCandidatesParams {
  /** JSON array of job names, expanded with json_each so one statement serves any list. */
  readonly excludeJobs: string;
}

const CLAIM_ORDER = `
  SELECT ${RUN_COLUMNS} FROM runs INDEXED BY runs_claim
  WHERE status = 'queued' AND available_at <= @now`;

/**
 * The runs to claim, in claim order, as they are now. A separate SELECT then one UPDATE per run
 * (in the same IMMEDIATE transaction) measured ~5x faster than `UPDATE … WHERE seq IN (SELECT …
 * LIMIT)`, and the common case (nothing excluded) skips json_each entirely.
 */
export const CLAIM_CANDIDATES = `${CLAIM_ORDER}
  ORDER BY priority DESC, seq LIMIT @limit`;

export const CLAIM_CANDIDATES_EXCLUDING = `${CLAIM_ORDER}
    AND job NOT IN (SELECT value FROM json_each(@excludeJobs))
  ORDER BY priority DESC, seq LIMIT @limit`;

export interface ClaimOneParams {
  readonly seq: number;
}

/**
 * Queued → starting, counting the attempt and clearing what described the previous one.
 *
 * CLAIM_ONE, MARK_RUNNING and FINISH_ATTEMPT have no RETURNING: reading the row back measured
 * about as much as the UPDATE itself. The store computes the new row from the one it read (the
 * claim candidate) or handed out (owned-runs.ts), and reads it back only when it has neither.
 */
export const CLAIM_ONE = `
  UPDATE runs SET status = 'starting', attempts = attempts + 1,
    exit_code = NULL, reason = NULL, handle = NULL, started_at = NULL, finished_at = NULL,
    output = NULL, output_error = NULL, steps = NULL
  WHERE seq = @seq AND status = 'queued'`;

export interface MarkRunningParams {
  readonly id: string;
  readonly handle: string;
  readonly startedAt: number;
  /** The attempt this store claimed, or null when it did not claim the run (see owned-runs.ts). */
  readonly attempt: number | null;
}

export const MARK_RUNNING = `
  UPDATE runs SET status = 'running', handle = @handle, started_at = @startedAt
  WHERE id = @id AND status = 'starting' AND (@attempt IS NULL OR attempts = @attempt)`;

export interface FinishParams {
  readonly id: string;
  readonly status: string;
  readonly exitCode: number | null;
  readonly reason: string | null;
  /** Set when the attempt may be retried (failed or timed out, with a retry time): then, if attempts remain, the run is queued again until then. */
  readonly retryAt: number | null;
  readonly finishedAt: number;
  /** As for MarkRunningParams. */
  readonly attempt: number | null;
  /** JSON texts, or null. */
  readonly output: string | null;
  readonly outputError: string | null;
  readonly steps: string | null;
}

/**
 * Ends the attempt in one statement: final, or — when `retryAt` is set and attempts remain —
 * queued again until `retryAt` (the column values on the right are the row's current ones). A
 * retry keeps the failed attempt's exit code and reason, so users see why it waits.
 */
export const FINISH_ATTEMPT = `
  UPDATE runs SET
    status = CASE WHEN @retryAt IS NOT NULL AND attempts < max_attempts THEN 'queued' ELSE @status END,
    exit_code = @exitCode, reason = @reason, output = @output, output_error = @outputError, steps = @steps,
    available_at = CASE WHEN @retryAt IS NOT NULL AND attempts < max_attempts THEN @retryAt ELSE available_at END,
    finished_at = CASE WHEN @retryAt IS NOT NULL AND attempts < max_attempts THEN NULL ELSE @finishedAt END
  WHERE id = @id AND status IN ('starting', 'running') AND (@attempt IS NULL OR attempts = @attempt)`;

export interface CancelParams {
  readonly id: string;
  readonly reason: string;
  readonly now: number;
}

export const CANCEL_QUEUED = `
  UPDATE runs SET status = 'cancelled', reason = @reason, exit_code = NULL, finished_at = @now
  WHERE id = @id AND status = 'queued'
  RETURNING ${RUN_COLUMNS}`;

export interface RetryParams {
  readonly id: string;
  readonly now: number;
}

/** A manual retry allows exactly one more attempt, whatever the job's retry budget was. */
export const RETRY_RUN = `
  UPDATE runs SET status = 'queued', max_attempts = attempts + 1, available_at = @now,
    exit_code = NULL, reason = NULL, finished_at = NULL, output = NULL, output_error = NULL, steps = NULL
  WHERE id = @id AND status IN ('succeeded', 'failed', 'timed_out', 'cancelled')
  RETURNING ${RUN_COLUMNS}`;

/**
 * A claimed run whose attempt never started (jobwire died between the claim and the spawn) goes
 * back to the queue as it was: the attempt is not counted, and its place in the claim order
 * (priority, seq, available_at) is unchanged.
 */
export const REQUEUE_UNSTARTED = `
  UPDATE runs SET status = 'queued', attempts = attempts - 1, handle = NULL, started_at = NULL
  WHERE id = @id AND status = 'starting' AND attempts > 0
  RETURNING ${RUN_COLUMNS}`;

export const ACTIVE_RUNS = `
  SELECT ${RUN_COLUMNS} FROM runs WHERE status IN ('starting', 'running') ORDER BY seq`;

export const NEXT_AVAILABLE_AT = `
  SELECT MIN(available_at) AS next FROM runs INDEXED BY runs_queued_available WHERE status = 'queued'`;

/** Two index counts rather than one pass over the table with SUM(CASE …). */
export const STATS = `
  SELECT (SELECT COUNT(*) FROM runs WHERE status = 'queued') AS queued,
         (SELECT COUNT(*) FROM runs WHERE status IN ('starting', 'running')) AS active`;

/** listRuns filters, each an equality on one column with its own (column, seq) index. */
export const LIST_FILTERS = [
  { key: 'job', column: 'job' },
  { key: 'status', column: 'status' },
  { key: 'correlationId', column: 'correlation_id' },
  { key: 'messageId', column: 'message_id' },
] as const;

export type ListFilterKey = (typeof LIST_FILTERS)[number]['key'];

export type ListParams = Partial<Record<ListFilterKey, string>> & {
  /** Keyset pagination: only runs older than this seq (MAX_SAFE_INTEGER for the first page). */
  readonly before: number;
  readonly limit: number;
};

/**
 * The listRuns statement for one combination of filters (bit i set = LIST_FILTERS[i] applied).
 * One statement per combination, prepared up front, keeps each query a plain index lookup
 * instead of `(? IS NULL OR col = ?)` terms the planner cannot use an index for.
 */
export function listRunsSql(mask: number): string {
  const terms = ['seq < @before'];
  LIST_FILTERS.forEach((filter, bit) => {
    if ((mask & (1 << bit)) !== 0) terms.push(`${filter.column} = @${filter.key}`);
  });
  return `SELECT ${RUN_COLUMNS} FROM runs WHERE ${terms.join(' AND ')} ORDER BY seq DESC LIMIT @limit`;
}

export const LIST_COMBINATIONS = 1 << LIST_FILTERS.length;
