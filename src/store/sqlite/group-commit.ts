/**
 * Group commit: writes submitted in the same turn of the event loop are committed together, in
 * one SQLite transaction, instead of one transaction (and one WAL commit) each. Under load —
 * a broker delivering thousands of messages, hundreds of runs finishing — the cost of a commit
 * is shared by the whole batch; when idle, a batch is one write and waits one `setImmediate`.
 *
 * A write that throws (a ConflictError, say) must be rolled back alone and reject alone. The
 * batch is first tried as plain statements in one transaction: almost every batch succeeds whole,
 * and a SAVEPOINT + RELEASE around each write measured ~20% of the store's time per run. When a
 * write throws, that transaction is rolled back and the batch replayed with each write in its own
 * SAVEPOINT — the writes are pure functions of the database, so the replay decides the same
 * thing, and no outcome was reported before the rollback.
 *
 * Every promise settles only after the batch's COMMIT: nobody is told "recorded" before it is.
 * If the COMMIT itself fails, every write of the batch rejects.
 */
import type Database from 'better-sqlite3';

interface PendingWrite {
  readonly work: () => unknown;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** Thrown inside the fast path so that its transaction is rolled back; never leaves this file. */
class WriteFailed extends Error {
  override readonly name = 'WriteFailed';
}

export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly commitFast: (writes: readonly PendingWrite[]) => Outcome[];
  private readonly commitIsolated: (writes: readonly PendingWrite[]) => Outcome[];

  constructor(
    private readonly db: Database.Database,
    /** A batch never grows past this, so one commit's latency stays bounded. */
    private readonly maxBatch = 1000,
  ) {
    const fast = db.transaction((writes: readonly PendingWrite[]): Outcome[] =>
      writes.map((write) => {
        try {
          return { ok: true, value: write.work() };
        } catch (error: unknown) {
          throw new WriteFailed('a write of the batch failed', { cause: error });
        }
      }),
    );
    const isolated = db.transaction((writes: readonly PendingWrite[]): Outcome[] =>
      writes.map((write) => {
        try {
          // A nested db.transaction runs as a SAVEPOINT: a throw rolls back this write only.
          return { ok: true, value: this.db.transaction(write.work)() };
        } catch (error: unknown) {
          return { ok: false, error };
        }
      }),
    );
    // IMMEDIATE: take the write lock up front, so a second process waits on busy_timeout.
    this.commitFast = (writes) => fast.immediate(writes);
    this.commitIsolated = (writes) => isolated.immediate(writes);
  }

  /** `work` runs synchronously inside the batch's transaction; it must not touch anything but the database. */
  submit<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (this.pending.length >= this.maxBatch) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits what is pending now (also called on close). */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const writes = this.pending;
    this.pending = [];
    let outcomes: Outcome[];
    try {
      outcomes = this.commit(writes);
    } catch (error: unknown) {
      for (const write of writes) write.reject(error);
      return;
    }
    outcomes.forEach((outcome, index) => {
      const write = writes[index];
      if (write === undefined) return;
      if (outcome.ok) write.resolve(outcome.value);
      else write.reject(outcome.error);
    });
  }

  private commit(writes: readonly PendingWrite[]): Outcome[] {
    try {
      return this.commitFast(writes);
    } catch (error: unknown) {
      if (!(error instanceof WriteFailed)) throw error;
      // Rolled back: replay with each write isolated in a savepoint.
      return this.commitIsolated(writes);
    }
  }
}
