/**
 * The arrow from the outbox to the outside: a Deliverer sends the entries of one outbox target
 * (a sink, a bus that chained messages go to). What it throws tells the relay what to do:
 * PermanentError — the entry can never be delivered (a webhook answered 400): it is dropped and
 * logged; anything else — try again later, with backoff, keeping the entry.
 */
import type { OutboxRecord } from '../store/store.js';

/** What every outbox entry's payload holds (JSON): a message ready to send. */
export interface OutboundPayload {
  /** Where on the bus; absent: the sink's configured topic. */
  readonly topic?: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Deliverer {
  /** `sink:<name>` or `publish:<source>`, as the outbox entries name it. */
  readonly target: string;
  /**
   * True when deliveries may overlap and still reach the receiver in order (one bus connection
   * with publisher confirms); false sends one at a time (a webhook).
   */
  readonly pipelined: boolean;
  /** Entries beyond this many waiting are dropped, oldest first (lifecycle events); undefined: never. */
  readonly maxPending?: number;
  deliver(entry: OutboxRecord, payload: OutboundPayload): Promise<void>;
  /** What `GET /v1/events/sinks` shows of it. */
  describe(): Readonly<Record<string, unknown>>;
  close(): Promise<void>;
}

export function parsePayload(entry: OutboxRecord): OutboundPayload {
  const value: unknown = JSON.parse(entry.payload);
  if (typeof value !== 'object' || value === null) throw new Error(`outbox entry ${entry.seq} has a payload that is not an object`);
  const { topic, headers, body } = value as Record<string, unknown>;
  if (typeof body !== 'string' || typeof headers !== 'object' || headers === null) throw new Error(`outbox entry ${entry.seq} has a malformed payload`);
  return { ...(typeof topic === 'string' ? { topic } : {}), headers: headers as Record<string, string>, body };
}
