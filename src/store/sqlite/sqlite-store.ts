/**
 * The default Store: one SQLite file (WAL) in the data directory.
 *
 * Design:
 * - better-sqlite3 is synchronous; each method does its work synchronously and returns a settled
 *   promise, which fits the async Store contract and costs one microtask. A local SQLite call
 *   takes microseconds, far less than handing it to a thread would.
 * - Every statement is prepared once, in the constructor (statements.ts); SQL lives in
 *   *-sql.ts files, one table each; row ↔ domain conversion in rows.ts.
 * - The hot-path writes (acceptMessage, markRunning, finishAttempt) go through group commit
 *   (group-commit.ts): all submitted in one event-loop turn share one transaction and settle
 *   after the COMMIT; a write that throws is rolled back alone. claimRuns is already a batch.
 *   Multi-statement writes use BEGIN IMMEDIATE: the write lock is taken up front, so two
 *   processes on the same file queue up on busy_timeout instead of one failing with SQLITE_BUSY
 *   when upgrading a read to a write, and a claim can never hand the same run to both.
 * - Legality of a transition is enforced in the UPDATE's WHERE clause (see runs-sql.ts); a
 *   write that matched nothing is then explained by reading the run: NotFoundError when it does
 *   not exist, ConflictError naming its current status otherwise.
 * - A message just accepted is kept in memory (recent-messages.ts) until its runs start, so
 *   getMessage does not read back the row the inbox wrote a moment earlier.
 * - Writes do not read their row back: a new run's row is what was inserted (plus its rowid),
 *   and a claimed run's next state follows from the record the store handed out (owned-runs.ts).
 */
import type Database from 'better-sqlite3';
import { ConflictError, InvalidInputError, NotFoundError } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import { isRunStatus, type RunLog, type RunRecord } from '../../core/run.js';
import type {
  AcceptResult,
  AttemptEnd,
  ClaimRequest,
  NewRun,
  OutboxRecord,
  RunFilter,
  RunPage,
  Store,
  StoreStats,
  StoredMessage,
  TransitionEffects,
} from '../store.js';
import { openConnection, type SynchronousMode } from './connection.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { migrate } from './migrations.js';
import { acceptedMessage, bodyToJson, toOutboxRecord, toRunLog, toRunRecord, toStoredMessage } from './rows.js';
import { LIST_FILTERS, type ListParams } from './runs-sql.js';
import { GroupCommit } from './group-commit.js';
import { DEFAULT_RECENT_MESSAGES, RecentMessages, type RecentMessagesLimits } from './recent-messages.js';
import { claimedRecord, finishedRecord, runningRecord } from '../transitions.js';
import { OwnedRuns } from './owned-runs.js';
import { prepareStatements, type Statements } from './statements.js';

export interface SqliteStoreOptions {
  /** Database file; its directory is created when missing. `:memory:` for a throwaway store. */
  readonly path: string;
  /** `normal` (default) survives a crash of the process; `full` also survives power loss. */
  readonly synchronous?: SynchronousMode;
  /** How long to wait for another process's write lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Messages kept in memory until their runs start (recent-messages.ts); hold the backlog. */
  readonly recentMessages?: RecentMessagesLimits;
}

/** A message's JSON columns, built once: the insert writes them, the recent-messages budget counts their bytes. */
interface MessageJson {
  readonly headers: string;
  readonly body: string;
}

const ATTEMPT_END_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'timed_out', 'cancelled']);
const RETRYABLE_STATUSES: ReadonlySet<string> = new Set(['failed', 'timed_out']);

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  const synchronous = options.synchronous ?? 'normal';
  if (synchronous !== 'normal' && synchronous !== 'full') {
    throw new InvalidInputError(`synchronous must be "normal" or "full", not ${JSON.stringify(synchronous)}`);
  }
  const db = openConnection({ path: options.path, synchronous, busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  try {
    migrate(db);
    return new SqliteStore(db, options.recentMessages);
  } catch (error: unknown) {
    db.close();
    throw error;
  }
}

export class SqliteStore implements Store {
  private readonly sql: Statements;
  private readonly claimTx: (request: ClaimRequest) => RunRecord[];
  private readonly group: GroupCommit;
  /** Runs claimed here and not finished yet: their next state is computed, not read back. */
  private readonly owned = new OwnedRuns();
  /** Messages just accepted, so starting their runs does not read them back (recent-messages.ts). */
  private readonly recent: RecentMessages;

  /** Takes an open, migrated connection; use openSqliteStore. */
  constructor(
    private readonly db: Database.Database,
    recentMessages: RecentMessagesLimits = DEFAULT_RECENT_MESSAGES,
  ) {
    this.recent = new RecentMessages(recentMessages);
    this.sql = prepareStatements(db);
    const claim = db.transaction(this.claimSync.bind(this));
    this.claimTx = (request) => claim.immediate(request);
    // acceptMessage, markRunning and finishAttempt are group-committed (group-commit.ts).
    this.group = new GroupCommit(db);
  }

  /** The database file, for diagnostics. */
  get path(): string {
    return this.db.name;
  }

  async acceptMessage(message: Message, matchedJobs: readonly string[], runs: readonly NewRun[]): Promise<AcceptResult> {
    const json = messageJson(message);
    const result = await this.group.submit(() => this.acceptSync(message, json, matchedJobs, runs));
    // Committed: from now on the dispatcher may ask for it to start the runs.
    if (!result.duplicate) this.remember(message, matchedJobs, json.headers.length + json.body.length, result.runs.length);
    return result;
  }

  async getMessage(source: string, id: string): Promise<StoredMessage | undefined> {
    const recent = this.recent.take(source, id);
    if (recent !== undefined) return recent;
    const row = this.sql.selectMessage.get({ source, id });
    return row === undefined ? undefined : toStoredMessage(row);
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.sql.selectRun.get({ id });
    return row === undefined ? undefined : toRunRecord(row);
  }

  async listRuns(filter: RunFilter): Promise<RunPage> {
    const { limit } = filter;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidInputError(`limit must be a positive integer, not ${String(limit)}`);
    }
    if (filter.status !== undefined && !isRunStatus(filter.status)) {
      throw new InvalidInputError(`unknown run status ${JSON.stringify(filter.status)}`);
    }
    const before = filter.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(filter.cursor);
    // One extra row tells whether another page exists, so the last page says so (null cursor).
    const params: { -readonly [K in keyof ListParams]: ListParams[K] } = { before, limit: limit + 1 };
    let mask = 0;
    LIST_FILTERS.forEach(({ key }, bit) => {
      const value = filter[key];
      if (value === undefined) return;
      params[key] = value;
      mask |= 1 << bit;
    });
    const statement = this.sql.listRuns[mask];
    if (statement === undefined) throw new Error(`no listRuns statement for filter mask ${mask}`);
    const rows = statement.all(params);
    const page = rows.slice(0, limit).map(toRunRecord);
    const last = page[page.length - 1];
    return { runs: page, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last.seq) : null };
  }

  async claimRuns(request: ClaimRequest): Promise<RunRecord[]> {
    if (!(request.limit >= 1)) return [];
    const claimed = this.claimTx(request);
    for (const run of claimed) this.owned.set(run);
    return claimed;
  }

  async markRunning(id: string, handle: string, startedAt: number, effects?: TransitionEffects): Promise<RunRecord> {
    const known = this.owned.get(id);
    const run = await this.group.submit(() => {
      const marked = this.markRunningSync(id, handle, startedAt, known);
      if (marked !== undefined && effects?.outbox !== undefined) this.insertOutboxSync(effects.outbox, startedAt);
      return marked;
    });
    if (run === undefined) throw this.staleAttempt(id, known) ?? this.refusal(id, 'mark running', 'starting');
    this.owned.set(run);
    return run;
  }

  async finishAttempt(id: string, end: AttemptEnd): Promise<RunRecord> {
    if (!ATTEMPT_END_STATUSES.has(end.status)) {
      throw new InvalidInputError(`an attempt cannot end as ${JSON.stringify(end.status)}`);
    }
    const known = this.owned.get(id);
    // Finished or refused: either way this attempt is over for us.
    this.owned.delete(id);
    const outcome = await this.transitionWithEffects(end.effects, end.finishedAt, () => this.finishSync(id, end, known));
    if (outcome === undefined) throw this.staleAttempt(id, known) ?? this.finishRefusal(id);
    return outcome;
  }

  /** Throws NotFoundError for an unknown run; undefined means it exists but is not queued. */
  async cancelQueued(id: string, reason: string, now: number, effects?: TransitionEffects): Promise<RunRecord | undefined> {
    const cancelled = await this.transitionWithEffects(effects, now, () => {
      const row = this.sql.cancelQueued.get({ id, reason, now });
      return row === undefined ? undefined : toRunRecord(row);
    });
    if (cancelled !== undefined) return cancelled;
    if (this.sql.selectRun.get({ id }) === undefined) throw new NotFoundError(`run ${id} not found`);
    return undefined;
  }

  /**
   * Runs `transition` in a group-committed transaction and, only if it changed the run, writes
   * its effects with it: outbox entries, and chained messages with their runs.
   */
  private async transitionWithEffects(effects: TransitionEffects | undefined, at: number, transition: () => RunRecord | undefined): Promise<RunRecord | undefined> {
    const chained = (effects?.messages ?? []).map((chain) => ({ chain, json: messageJson(chain.message) }));
    const outcome = await this.group.submit(() => {
      const changed = transition();
      if (changed === undefined) return undefined;
      if (effects?.outbox !== undefined) this.insertOutboxSync(effects.outbox, at);
      const created = chained.map(({ chain, json }) => this.acceptSync(chain.message, json, chain.runs.map((run) => run.job), chain.runs));
      return { changed, created };
    });
    if (outcome === undefined) return undefined;
    outcome.created.forEach((result, index) => {
      const entry = chained[index];
      if (entry === undefined || result.duplicate) return;
      const { chain, json } = entry;
      this.remember(chain.message, chain.runs.map((run) => run.job), json.headers.length + json.body.length, result.runs.length);
    });
    return outcome.changed;
  }

  async retryRun(id: string, now: number): Promise<RunRecord> {
    const row = this.sql.retryRun.get({ id, now });
    if (row === undefined) throw this.refusal(id, 'retry', 'succeeded, failed, timed_out or cancelled');
    return toRunRecord(row);
  }

  async requeueUnstarted(id: string): Promise<RunRecord> {
    this.owned.delete(id);
    const row = this.sql.requeueUnstarted.get({ id });
    if (row === undefined) throw this.refusal(id, 'requeue', 'starting');
    return toRunRecord(row);
  }

  async activeRuns(): Promise<RunRecord[]> {
    return this.sql.activeRuns.all().map(toRunRecord);
  }

  async nextAvailableAt(): Promise<number | undefined> {
    return this.sql.nextAvailableAt.get()?.next ?? undefined;
  }

  async getLogs(runId: string): Promise<RunLog[]> {
    return this.sql.selectLogs.all({ runId }).map(toRunLog);
  }

  async outboxBatch(target: string, limit: number): Promise<OutboxRecord[]> {
    return this.sql.outboxBatch.all({ target, limit }).map(toOutboxRecord);
  }

  async outboxDelete(seqs: readonly number[]): Promise<void> {
    if (seqs.length > 0) this.sql.deleteOutbox.run({ seqs: JSON.stringify(seqs) });
  }

  async outboxFailed(seq: number, error: string): Promise<void> {
    this.sql.outboxFailed.run({ seq, error });
  }

  async outboxPending(): Promise<ReadonlyMap<string, number>> {
    return new Map(this.sql.outboxPending.all().map((row) => [row.target, row.pending]));
  }

  async outboxTrim(target: string, keep: number): Promise<number> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new InvalidInputError(`keep must be a positive integer, not ${String(keep)}`);
    return this.sql.outboxTrim.run({ target, keep }).changes;
  }

  async stats(): Promise<StoreStats> {
    const row = this.sql.stats.get();
    return { queued: row?.queued ?? 0, active: row?.active ?? 0 };
  }

  async close(): Promise<void> {
    this.group.flush();
    if (this.db.open) this.db.close();
  }

  private remember(message: Message, matchedJobs: readonly string[], storedBytes: number, runs: number): void {
    if (runs === 0) return;
    let stored: StoredMessage;
    try {
      stored = acceptedMessage(message, matchedJobs);
    } catch {
      // Attributes a read of the row would reject (toCloudEvent): not kept, so the read reports it.
      return;
    }
    this.recent.add(stored, storedBytes, runs);
  }

  private acceptSync(message: Message, json: MessageJson, matchedJobs: readonly string[], runs: readonly NewRun[]): AcceptResult {
    const inserted = this.sql.insertMessage.run({
      source: message.source,
      id: message.id,
      topic: message.topic,
      headers: json.headers,
      body: json.body,
      cloudEvent: message.cloudEvent === undefined ? null : JSON.stringify(message.cloudEvent),
      correlationId: message.correlationId,
      receivedAt: message.receivedAt,
      matchedJobs: JSON.stringify(matchedJobs),
    });
    if (inserted.changes === 0) {
      const original = this.sql.selectMessageRuns.all({ source: message.source, messageId: message.id });
      return { duplicate: true, runs: original.map(toRunRecord) };
    }
    const created = runs.map((run): RunRecord => {
      const params = {
        id: run.id,
        job: run.job,
        source: message.source,
        messageId: message.id,
        correlationId: message.correlationId,
        priority: run.priority,
        maxAttempts: run.maxAttempts,
        executor: run.executor,
        now: message.receivedAt,
      };
      const { lastInsertRowid } = this.sql.insertRun.run(params);
      // The row as INSERT_RUN wrote it; `seq` is its rowid.
      // Same key order as toRunRecord: one object shape for every run record.
      return {
        id: params.id,
        job: params.job,
        messageId: params.messageId,
        source: params.source,
        correlationId: params.correlationId,
        status: 'queued',
        priority: params.priority,
        attempts: 0,
        maxAttempts: params.maxAttempts,
        exitCode: null,
        reason: null,
        executor: params.executor,
        handle: null,
        seq: Number(lastInsertRowid),
        createdAt: params.now,
        availableAt: params.now,
        startedAt: null,
        finishedAt: null,
        output: null,
        outputError: null,
        steps: null,
      };
    });
    return { duplicate: false, runs: created };
  }

  private claimSync(request: ClaimRequest): RunRecord[] {
    const limit = Math.floor(request.limit);
    const candidates =
      request.excludeJobs.length === 0
        ? this.sql.claimCandidates.all({ now: request.now, limit })
        : this.sql.claimCandidatesExcluding.all({ now: request.now, limit, excludeJobs: JSON.stringify(request.excludeJobs) });
    return candidates.map((row) => {
      // Cannot fail under the IMMEDIATE lock; if it did, throwing rolls the whole claim back.
      if (this.sql.claimOne.run({ seq: row.seq }).changes !== 1) throw new Error(`run #${row.seq} left the queue inside a write transaction`);
      return claimedRecord(toRunRecord(row));
    });
  }

  /** Undefined when the run is unknown or not starting (nothing written). */
  private markRunningSync(id: string, handle: string, startedAt: number, known: RunRecord | undefined): RunRecord | undefined {
    if (this.sql.markRunning.run({ id, handle, startedAt, attempt: known?.attempts ?? null }).changes === 0) return undefined;
    return known === undefined ? this.mustRead(id) : runningRecord(known, handle, startedAt);
  }

  /** Undefined when the run is unknown or not starting/running (nothing written). */
  private finishSync(id: string, end: AttemptEnd, known: RunRecord | undefined): RunRecord | undefined {
    const retryAt = end.retryAt !== undefined && RETRYABLE_STATUSES.has(end.status) ? end.retryAt : null;
    const params = {
      id,
      status: end.status,
      exitCode: end.exitCode,
      reason: end.reason,
      retryAt,
      finishedAt: end.finishedAt,
      attempt: known?.attempts ?? null,
      output: end.output?.kind === 'json' ? JSON.stringify(end.output.value) : null,
      outputError: end.output?.kind === 'invalid' ? end.output.error : null,
      steps: end.steps === undefined ? null : JSON.stringify(end.steps),
    };
    if (this.sql.finishAttempt.run(params).changes === 0) return undefined;
    if (end.log !== null) {
      this.sql.upsertLog.run({
        runId: id,
        attempt: end.log.attempt,
        text: end.log.text,
        droppedBytes: end.log.droppedBytes,
        totalBytes: end.log.totalBytes,
      });
    }
    return known === undefined ? this.mustRead(id) : finishedRecord(known, end, retryAt);
  }

  private insertOutboxSync(entries: TransitionEffects['outbox'] & object, now: number): void {
    for (const entry of entries) this.sql.insertOutbox.run({ target: entry.target, id: entry.id, payload: entry.payload, now });
  }

  /** A run just written inside this transaction. */
  private mustRead(id: string): RunRecord {
    const row = this.sql.selectRun.get({ id });
    if (row === undefined) throw new Error(`run ${id} vanished inside a write transaction`);
    return toRunRecord(row);
  }

  /** The run moved on to another attempt since this store claimed it (another process reconciled and re-claimed it). */
  private staleAttempt(id: string, known: RunRecord | undefined): Error | undefined {
    const current = known === undefined ? undefined : this.sql.selectRun.get({ id });
    if (known === undefined || current === undefined || current.attempts === known.attempts) return undefined;
    return new ConflictError(`run ${id} is at attempt ${current.attempts} (${current.status}); attempt ${known.attempts}, claimed here, is over`);
  }

  private finishRefusal(id: string): Error {
    const current = this.sql.selectRun.get({ id });
    if (current === undefined) return new NotFoundError(`run ${id} not found`);
    return new ConflictError(`run ${id} is ${current.status}: only a starting or running run can finish an attempt`);
  }

  /** Why a guarded transition matched no row: the run is unknown, or in the wrong state. */
  private refusal(id: string, action: string, allowed: string): Error {
    const current = this.sql.selectRun.get({ id });
    if (current === undefined) return new NotFoundError(`run ${id} not found`);
    return new ConflictError(`cannot ${action} run ${id}: it is ${current.status} (allowed from ${allowed})`);
  }
}

function messageJson(message: Message): MessageJson {
  return { headers: JSON.stringify(message.headers), body: serializeBody(message) };
}

function serializeBody(message: Message): string {
  try {
    return bodyToJson(message.body);
  } catch (error: unknown) {
    throw new InvalidInputError(`message ${message.id} has a body that is not JSON-serializable`, { cause: error });
  }
}
