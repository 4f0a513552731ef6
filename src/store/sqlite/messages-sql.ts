/**
 * SQL for the `messages` table: the inbox's durable record and deduplication key.
 *
 * Deduplication is the primary key (source, id) plus `ON CONFLICT DO NOTHING`: the insert itself
 * says whether the message is new (one change) or a redelivery (no change), with no read first
 * and so no window between "check" and "insert" for a second process to slip into.
 */

export interface InsertMessageParams {
  readonly source: string;
  readonly id: string;
  readonly topic: string;
  readonly headers: string;
  readonly body: string;
  readonly cloudEvent: string | null;
  readonly correlationId: string;
  readonly receivedAt: number;
  readonly matchedJobs: string;
}

export const INSERT_MESSAGE = `
  INSERT INTO messages (source, id, topic, headers, body, cloud_event, correlation_id, received_at, matched_jobs)
  VALUES (@source, @id, @topic, @headers, @body, @cloudEvent, @correlationId, @receivedAt, @matchedJobs)
  ON CONFLICT (source, id) DO NOTHING`;

export interface MessageKeyParams {
  readonly source: string;
  readonly id: string;
}

export const SELECT_MESSAGE = `
  SELECT source, id, topic, headers, body, cloud_event, correlation_id, received_at, matched_jobs
  FROM messages WHERE source = @source AND id = @id`;
