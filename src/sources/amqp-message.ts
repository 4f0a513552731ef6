/**
 * Turns an AMQP 0-9-1 delivery into the RawMessage that `normalizeMessage` reads, deciding the
 * two things every later step relies on:
 *
 * - the dedupe id: the AMQP `messageId` property, else a `message-id` header, else
 *   `sha256:<hex>` of the queue name, the binary CloudEvent identity (`ce_source`, `ce_id`, when
 *   present) and the payload — so a redelivery, or the same bytes published twice, runs once;
 * - the headers a trigger filter sees: the AMQP headers as strings, plus `content-type`,
 *   `correlation-id`, `message-id` and `reply-to` from the properties, and `amqp-exchange` /
 *   `amqp-routing-key` (useful when a queue is bound with a wildcard routing key).
 *
 * Binary CloudEvents over AMQP carry their attributes as `cloudEvents:<attr>` (AMQP binding) or
 * `cloudEvents_<attr>` / `ce_<attr>` headers; all are mapped to the `ce_<attr>` form that
 * `normalizeMessage` recognises.
 */
import { createHash } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import type { RawMessage } from './normalize.js';

const CLOUD_EVENTS_PREFIXES = ['cloudevents:', 'cloudevents_'] as const;

/** AMQP field-table values are strings, numbers, booleans, Buffers, dates, arrays and tables. */
function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner));
}

function headerName(key: string): string {
  const lower = key.toLowerCase();
  for (const prefix of CLOUD_EVENTS_PREFIXES) if (lower.startsWith(prefix)) return 'ce_' + lower.slice(prefix.length);
  return lower;
}

function propertyText(value: unknown): string | undefined {
  const text = headerText(value);
  return text === undefined || text === '' ? undefined : text;
}

export function contentHashId(queue: string, content: Buffer, headers: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256');
  // Lengths first, so no two different (queue, identity, payload) triples hash the same bytes.
  for (const part of [queue, headers['ce_source'] ?? '', headers['ce_id'] ?? '']) {
    hash.update(`${Buffer.byteLength(part)}:`).update(part);
  }
  // Two RPC requests with the same payload are two requests: their reply address and correlation
  // id tell them apart (a redelivery keeps both). Absent, the hash is what it always was.
  const replyTo = headers['reply-to'];
  if (replyTo !== undefined) {
    for (const part of ['reply-to', replyTo, headers['correlation-id'] ?? '']) hash.update(`${Buffer.byteLength(part)}:`).update(part);
  }
  hash.update(content);
  return 'sha256:' + hash.digest('hex');
}

export interface AmqpDelivery {
  readonly raw: RawMessage;
  /** For logging before (or when) `normalizeMessage` fails. */
  readonly correlationId: string;
}

export function toRawMessage(source: string, queue: string, delivery: ConsumeMessage, receivedAt = Date.now()): AmqpDelivery {
  const { properties, fields, content } = delivery;
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(properties.headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) headers[headerName(key)] = text;
  }
  const contentType = propertyText(properties.contentType);
  if (contentType !== undefined) headers['content-type'] = contentType;
  const correlationProperty = propertyText(properties.correlationId);
  if (correlationProperty !== undefined) headers['correlation-id'] = correlationProperty;
  // Where an RPC caller waits for the result (see events/replies.ts).
  const replyTo = propertyText(properties.replyTo);
  if (replyTo !== undefined) headers['reply-to'] = replyTo;
  headers['amqp-exchange'] = fields.exchange;
  headers['amqp-routing-key'] = fields.routingKey;

  const id = propertyText(properties.messageId) ?? nonEmpty(headers['message-id']) ?? contentHashId(queue, content, headers);
  headers['message-id'] = id;
  const correlationId = nonEmpty(headers['correlation-id']) ?? nonEmpty(headers['ce_id']) ?? id;
  return {
    raw: { source, topic: queue, headers, payload: content, ...(contentType === undefined ? {} : { contentType }), id, receivedAt },
    correlationId,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
