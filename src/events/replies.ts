/**
 * Request/reply over the buses: a message that says where its sender waits — AMQP `reply_to`
 * (with `correlation_id`), a STOMP `reply-to` header, a NATS request's reply subject; the
 * sources put each in the `reply-to` header — gets its run's result published there when the run
 * reaches its final state, the RPC pattern each broker documents.
 *
 * The reply is an outbox entry (target `reply:<source>`) written in the transaction of the run's
 * end, so a jobwire stopped or killed between the end and the reply sends it at its next start;
 * its id (`<run>/reply`, the `message-id` of the reply) is stable, so a caller can drop a repeat.
 * A message whose jobs start several runs gets one reply per run, each naming its run and job.
 */
import { runJson } from '../api/serialize.js';
import type { Message } from '../core/message.js';
import type { RunRecord } from '../core/run.js';
import type { OutboxEntry } from '../store/store.js';
import type { OutboundPayload } from './deliverer.js';

export const REPLY_TO_HEADER = 'reply-to';

export function replyTarget(source: string): string {
  return `reply:${source}`;
}

export function replyToOf(message: Message): string | undefined {
  const replyTo = message.headers[REPLY_TO_HEADER];
  return replyTo === undefined || replyTo === '' ? undefined : replyTo;
}

/** The reply to `message` for its finished `run`, or undefined when its sender waits nowhere. */
export function replyEntry(run: RunRecord, message: Message): OutboxEntry | undefined {
  const replyTo = replyToOf(message);
  if (replyTo === undefined) return undefined;
  const payload: OutboundPayload = {
    topic: replyTo,
    headers: {
      'content-type': 'application/json',
      'correlation-id': message.correlationId,
      'jobwire-run-id': run.id,
      'jobwire-job': run.job,
      'jobwire-status': run.status,
    },
    body: JSON.stringify(runJson(run)),
  };
  return { target: replyTarget(message.source), id: `${run.id}/reply`, payload: JSON.stringify(payload) };
}
