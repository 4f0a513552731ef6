/**
 * Turns a NATS delivery (subject, headers, payload bytes) into a jobwire Message, and decides its
 * identity — the key the store deduplicates on. In order of preference:
 *  1. `Nats-Msg-Id`: the id JetStream itself deduplicates publishes on;
 *  2. a `message-id` header, then a binary CloudEvent's `ce-id` header;
 *  3. otherwise `sha256:` + the SHA-256 of the subject, a NUL byte, the reply subject of a
 *     request (when there is one) and the payload. A stream
 *     sequence is not an identity: the same message published twice gets two sequences.
 *     The hash makes redeliveries deduplicate, and also makes two byte-identical publishes on
 *     the same subject without an id count as one message (documented).
 */
import { createHash } from 'node:crypto';
import type { MsgHdrs } from '@nats-io/transport-node';
import { InvalidInputError } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { normalizeMessage } from './normalize.js';

export interface NatsDelivery {
  readonly source: string;
  readonly subject: string;
  readonly headers: MsgHdrs | undefined;
  readonly data: Uint8Array;
  /** A core request's reply subject (not JetStream's: there it is the ack subject). */
  readonly reply?: string;
}

/** Header values by lower-cased name (a repeated header keeps its values, comma-joined). */
export function natsHeaders(headers: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const [key, values] of headers) out[key.toLowerCase()] = values.join(', ');
  return out;
}

function contentHash(subject: string, data: Uint8Array, replyTo: string | undefined): string {
  const hash = createHash('sha256').update(subject).update('\0');
  // Two requests with the same payload are two requests: each waits on its own reply subject.
  if (replyTo !== undefined) hash.update('reply-to\0').update(replyTo).update('\0');
  return 'sha256:' + hash.update(data).digest('hex');
}

/** The delivery's headers by lower-cased name, with a core request's reply subject as `reply-to`. */
function deliveryHeaders(delivery: NatsDelivery): Record<string, string> {
  const headers = natsHeaders(delivery.headers);
  // Where a requester waits (nc.request): the run's result is published there (events/replies.ts).
  if (delivery.reply !== undefined && delivery.reply !== '' && headers['reply-to'] === undefined) headers['reply-to'] = delivery.reply;
  return headers;
}

/** The dedupe key of a delivery (see the file comment). */
export function natsMessageId(subject: string, headers: Readonly<Record<string, string>>, data: Uint8Array): string {
  return headers['nats-msg-id'] || headers['message-id'] || headers['ce-id'] || contentHash(subject, data, headers['reply-to']);
}

/** What every log line about a delivery carries, even one that could not be decoded. */
export interface DeliveryLabels {
  readonly correlationId: string;
  readonly messageId: string;
  readonly subject: string;
}

export function deliveryLabels(delivery: NatsDelivery): DeliveryLabels {
  const headers = deliveryHeaders(delivery);
  const messageId = natsMessageId(delivery.subject, headers, delivery.data);
  const correlationId = headers['correlation-id'] || headers['correlation_id'] || headers['ce-id'] || messageId;
  return { correlationId, messageId, subject: delivery.subject };
}

/** Throws InvalidInputError for a message over the size limit or one that cannot be decoded. */
export function toMessage(delivery: NatsDelivery, maxMessageBytes: number): Message {
  if (delivery.data.byteLength > maxMessageBytes) {
    throw new InvalidInputError(`message of ${delivery.data.byteLength} bytes is over the limit of ${maxMessageBytes} bytes (limits.maxMessageSize)`);
  }
  const headers = deliveryHeaders(delivery);
  return normalizeMessage({
    source: delivery.source,
    topic: delivery.subject,
    headers,
    payload: delivery.data,
    id: natsMessageId(delivery.subject, headers, delivery.data),
  });
}
