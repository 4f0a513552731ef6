/**
 * Every statement the SQLite store runs, prepared once per connection.
 *
 * Preparing compiles SQL to bytecode; doing it per call would cost more than the hot-path
 * statements themselves. Typing each statement here (parameters in, row out) is what lets the
 * store stay free of casts.
 */
import type Database from 'better-sqlite3';
import { SELECT_LOGS, UPSERT_LOG, type UpsertLogParams } from './logs-sql.js';
import { INSERT_MESSAGE, SELECT_MESSAGE, type InsertMessageParams, type MessageKeyParams } from './messages-sql.js';
import {
  DELETE_OUTBOX,
  INSERT_OUTBOX,
  OUTBOX_BATCH,
  OUTBOX_FAILED,
  OUTBOX_PENDING,
  OUTBOX_TRIM,
  type InsertOutboxParams,
  type OutboxBatchParams,
  type OutboxFailedParams,
  type OutboxTrimParams,
} from './outbox-sql.js';
import type { LogRow, MessageRow, OutboxRow, RunRow } from './rows.js';
import {
  ACTIVE_RUNS,
  CANCEL_QUEUED,
  CLAIM_CANDIDATES,
  CLAIM_CANDIDATES_EXCLUDING,
  CLAIM_ONE,
  FINISH_ATTEMPT,
  INSERT_RUN,
  LIST_COMBINATIONS,
  MARK_RUNNING,
  NEXT_AVAILABLE_AT,
  REQUEUE_UNSTARTED,
  RETRY_RUN,
  SELECT_MESSAGE_RUNS,
  SELECT_RUN,
  STATS,
  listRunsSql,
  type CancelParams,
  type ClaimCandidatesExcludingParams,
  type ClaimCandidatesParams,
  type ClaimOneParams,
  type FinishParams,
  type InsertRunParams,
  type ListParams,
  type MarkRunningParams,
  type MessageRunsParams,
  type RetryParams,
  type RunIdParams,
} from './runs-sql.js';

export interface Statements {
  readonly insertMessage: Database.Statement<InsertMessageParams, never>;
  readonly selectMessage: Database.Statement<MessageKeyParams, MessageRow>;
  readonly insertRun: Database.Statement<InsertRunParams, never>;
  readonly selectRun: Database.Statement<RunIdParams, RunRow>;
  readonly selectMessageRuns: Database.Statement<MessageRunsParams, RunRow>;
  /** Claim order. */
  readonly claimCandidates: Database.Statement<ClaimCandidatesParams, RunRow>;
  readonly claimCandidatesExcluding: Database.Statement<ClaimCandidatesExcludingParams, RunRow>;
  readonly claimOne: Database.Statement<ClaimOneParams, never>;
  readonly markRunning: Database.Statement<MarkRunningParams, never>;
  readonly finishAttempt: Database.Statement<FinishParams, never>;
  readonly cancelQueued: Database.Statement<CancelParams, RunRow>;
  readonly retryRun: Database.Statement<RetryParams, RunRow>;
  readonly requeueUnstarted: Database.Statement<RunIdParams, RunRow>;
  readonly activeRuns: Database.Statement<[], RunRow>;
  readonly nextAvailableAt: Database.Statement<[], { next: number | null }>;
  readonly stats: Database.Statement<[], { queued: number; active: number }>;
  /** Indexed by filter mask, see listRunsSql. */
  readonly listRuns: readonly Database.Statement<ListParams, RunRow>[];
  readonly upsertLog: Database.Statement<UpsertLogParams, never>;
  readonly selectLogs: Database.Statement<{ runId: string }, LogRow>;
  readonly insertOutbox: Database.Statement<InsertOutboxParams, never>;
  readonly outboxBatch: Database.Statement<OutboxBatchParams, OutboxRow>;
  readonly deleteOutbox: Database.Statement<{ seqs: string }, never>;
  readonly outboxFailed: Database.Statement<OutboxFailedParams, never>;
  readonly outboxPending: Database.Statement<[], { target: string; pending: number }>;
  readonly outboxTrim: Database.Statement<OutboxTrimParams, never>;
}

export function prepareStatements(db: Database.Database): Statements {
  const listRuns: Database.Statement<ListParams, RunRow>[] = [];
  for (let mask = 0; mask < LIST_COMBINATIONS; mask++) listRuns.push(db.prepare<ListParams, RunRow>(listRunsSql(mask)));
  return {
    insertMessage: db.prepare<InsertMessageParams, never>(INSERT_MESSAGE),
    selectMessage: db.prepare<MessageKeyParams, MessageRow>(SELECT_MESSAGE),
    insertRun: db.prepare<InsertRunParams, never>(INSERT_RUN),
    selectRun: db.prepare<RunIdParams, RunRow>(SELECT_RUN),
    selectMessageRuns: db.prepare<MessageRunsParams, RunRow>(SELECT_MESSAGE_RUNS),
    claimCandidates: db.prepare<ClaimCandidatesParams, RunRow>(CLAIM_CANDIDATES),
    claimCandidatesExcluding: db.prepare<ClaimCandidatesExcludingParams, RunRow>(CLAIM_CANDIDATES_EXCLUDING),
    claimOne: db.prepare<ClaimOneParams, never>(CLAIM_ONE),
    markRunning: db.prepare<MarkRunningParams, never>(MARK_RUNNING),
    finishAttempt: db.prepare<FinishParams, never>(FINISH_ATTEMPT),
    cancelQueued: db.prepare<CancelParams, RunRow>(CANCEL_QUEUED),
    retryRun: db.prepare<RetryParams, RunRow>(RETRY_RUN),
    requeueUnstarted: db.prepare<RunIdParams, RunRow>(REQUEUE_UNSTARTED),
    activeRuns: db.prepare<[], RunRow>(ACTIVE_RUNS),
    nextAvailableAt: db.prepare<[], { next: number | null }>(NEXT_AVAILABLE_AT),
    stats: db.prepare<[], { queued: number; active: number }>(STATS),
    listRuns,
    upsertLog: db.prepare<UpsertLogParams, never>(UPSERT_LOG),
    selectLogs: db.prepare<{ runId: string }, LogRow>(SELECT_LOGS),
    insertOutbox: db.prepare<InsertOutboxParams, never>(INSERT_OUTBOX),
    outboxBatch: db.prepare<OutboxBatchParams, OutboxRow>(OUTBOX_BATCH),
    deleteOutbox: db.prepare<{ seqs: string }, never>(DELETE_OUTBOX),
    outboxFailed: db.prepare<OutboxFailedParams, never>(OUTBOX_FAILED),
    outboxPending: db.prepare<[], { target: string; pending: number }>(OUTBOX_PENDING),
    outboxTrim: db.prepare<OutboxTrimParams, never>(OUTBOX_TRIM),
  };
}
