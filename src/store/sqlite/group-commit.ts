/**
 * Group commit: writes submitted in the same turn of the event loop are committed together, in
 * one SQLite transaction, instead of one transaction (and one WAL commit) each. Under load —
 * a broker delivering thousands of messages, hundreds of runs finishing — the cost of a commit
 * is shared by the whole batch; when idle, a batch is one write and waits one `setImmediate`.
 *
 * Each write runs inside its own SAVEPOINT (better-sqlite3 nests `db.transaction` functions that
 * way), so a write that throws (a ConflictError, say) is rolled back alone and rejects alone.
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

export class GroupCommit {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly commitBatch: (writes: readonly PendingWrite[]) => Outcome[];

  constructor(
    db: Database.Database,
    /** A batch never grows past this, so one commit's latency stays bounded. */
    private readonly maxBatch = 1000,
  ) {
    const batch = db.transaction((writes: readonly PendingWrite[]): Outcome[] =>
      writes.map((write) => {
        try {
          return { ok: true, value: write.work() };
        } catch (error: unknown) {
          return { ok: false, error };
        }
      }),
    );
    // IMMEDIATE: take the write lock up front, so a second process waits on busy_timeout.
    this.commitBatch = (writes) => batch.immediate(writes);
  }

  /** `work` must be a `db.transaction(...)` function so that it runs in a savepoint. */
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
      outcomes = this.commitBatch(writes);
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
}
