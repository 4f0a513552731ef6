/**
 * SQL for `outbox`: what committed transitions still have to send (store.ts, OutboxEntry).
 *
 * Entries are written inside the transition's transaction and deleted once delivered. Each
 * target (a sink, a bus for chained messages) reads its own entries oldest first through the
 * `outbox_target` index, so a target that is down holds back only its own entries, and the
 * order of one run's events (started before finished) is kept per target.
 */

export interface InsertOutboxParams {
  readonly target: string;
  readonly id: string;
  readonly payload: string;
  readonly now: number;
}

export const INSERT_OUTBOX = `
  INSERT INTO outbox (target, id, payload, attempts, created_at) VALUES (@target, @id, @payload, 0, @now)`;

export interface OutboxBatchParams {
  readonly target: string;
  readonly limit: number;
}

export const OUTBOX_BATCH = `
  SELECT seq, target, id, payload, attempts, last_error, created_at FROM outbox
  WHERE target = @target ORDER BY seq LIMIT @limit`;

/** A JSON array of seqs, expanded with json_each: one statement for any batch size. */
export const DELETE_OUTBOX = `DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(@seqs))`;

export interface OutboxFailedParams {
  readonly seq: number;
  readonly error: string;
}

export const OUTBOX_FAILED = `UPDATE outbox SET attempts = attempts + 1, last_error = @error WHERE seq = @seq`;

export const OUTBOX_PENDING = `SELECT target, COUNT(*) AS pending FROM outbox GROUP BY target`;

export interface OutboxTrimParams {
  readonly target: string;
  readonly keep: number;
}

/** Keeps the newest `keep` entries of a target. */
export const OUTBOX_TRIM = `
  DELETE FROM outbox WHERE target = @target AND seq < (
    SELECT seq FROM outbox WHERE target = @target ORDER BY seq DESC LIMIT 1 OFFSET @keep - 1)`;
