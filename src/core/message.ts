/**
 * The normalized inbound message. Every source (HTTP, AMQP, STOMP, NATS, cron) turns what it
 * received into this shape before anything else sees it, so matching, the store and executors
 * never know which bus a message came from.
 */

/** CloudEvents context attributes, present when the message was a CloudEvent. */
export interface CloudEventAttributes {
  readonly id: string;
  readonly source: string;
  readonly type: string;
  readonly specversion: string;
  readonly subject?: string;
  readonly time?: string;
  readonly datacontenttype?: string;
  readonly dataschema?: string;
}

export interface Message {
  /** Unique per source; `(source, id)` is the deduplication key. */
  readonly id: string;
  /** Name of the source it arrived on (`http`, `cron`, or a configured source). */
  readonly source: string;
  /** Queue, destination or subject it arrived on; `""` when the source has none. */
  readonly topic: string;
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Parsed JSON payload, or the payload text when it is not JSON. For a CloudEvent this is the
   * event's structured JSON form (attributes plus `data`), so `$.data.x` works as in Keptn.
   */
  readonly body: unknown;
  readonly cloudEvent?: CloudEventAttributes;
  /** `correlation-id` header, else CloudEvent id, else message id. Never empty. */
  readonly correlationId: string;
  /** Milliseconds since the epoch when jobwire received it. */
  readonly receivedAt: number;
}

/** The view of a message that filters, expressions and the message file see. */
export interface MessageView {
  id: string;
  source: string;
  topic: string;
  headers: Record<string, string>;
  body: unknown;
  correlationId: string;
  type: string;
  receivedAt: string;
}

export function messageView(message: Message): MessageView {
  return {
    id: message.id,
    source: message.source,
    topic: message.topic,
    headers: { ...message.headers },
    body: message.body,
    correlationId: message.correlationId,
    type: message.cloudEvent?.type ?? '',
    receivedAt: new Date(message.receivedAt).toISOString(),
  };
}
