/**
 * SQL for `run_logs`: the bounded output of each attempt, one row per (run, attempt).
 *
 * Upsert, because the dispatcher may record an attempt's log more than once (e.g. a reconcile
 * after a crash finishing an attempt whose partial log was already saved): the last word wins.
 */

export interface UpsertLogParams {
  readonly runId: string;
  readonly attempt: number;
  readonly text: string;
  readonly droppedBytes: number;
  readonly totalBytes: number;
}

export const UPSERT_LOG = `
  INSERT INTO run_logs (run_id, attempt, text, dropped_bytes, total_bytes)
  VALUES (@runId, @attempt, @text, @droppedBytes, @totalBytes)
  ON CONFLICT (run_id, attempt) DO UPDATE SET
    text = excluded.text, dropped_bytes = excluded.dropped_bytes, total_bytes = excluded.total_bytes`;

export const SELECT_LOGS = `
  SELECT run_id, attempt, text, dropped_bytes, total_bytes
  FROM run_logs WHERE run_id = @runId ORDER BY attempt`;
