/**
 * The arrow from a message bus into jobwire. A source turns what its broker delivers into
 * Messages and hands each to `deliver`; it acknowledges the broker only after `deliver`
 * resolves (the message and its runs are committed), and rejects/dead-letters when `deliver`
 * throws InvalidInputError. A new broker is one file implementing `Source`.
 */
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import type { Message } from '../core/message.js';

export type SourceStatus =
  | { readonly state: 'starting' }
  | { readonly state: 'connected'; readonly since: number }
  | { readonly state: 'reconnecting'; readonly attempt: number; readonly lastError: string; readonly nextTryAt: number }
  | { readonly state: 'stopped' };

export interface Delivery {
  readonly message: Message;
}

/** Commits a message and its runs; resolves when it is safe to acknowledge the broker. */
export type DeliverFn = (delivery: Delivery) => Promise<void>;

export interface Source {
  readonly name: string;
  readonly type: string;
  /** Subscribes to `topics` (the ones the job definitions reference) and starts delivering. */
  start(topics: readonly string[], deliver: DeliverFn): Promise<void>;
  status(): SourceStatus;
  /**
   * Stops consuming, lets in-flight deliveries finish, closes; unacked messages return to the
   * broker. Bounded: past the context's `stopTimeoutMs` the connection is dropped (bounded-stop.ts).
   */
  stop(): Promise<void>;
}

/** Lets a source hold back while the dispatcher's backlog is full, so the broker keeps the rest. */
export interface Capacity {
  /** Resolves when one more message may be taken; sources await it before delivering. */
  admit(): Promise<void>;
}

export interface SourceContext {
  readonly logger: Logger;
  /** Larger messages are rejected/dead-lettered as malformed, never delivered. */
  readonly maxMessageBytes: number;
  readonly capacity: Capacity;
  /** Reconnect backoff: exponential from `initialMs` to `maxMs`, with full jitter. */
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  /** How long `stop()` may talk to the broker before it drops the connection (default 10 s, see bounded-stop.ts). */
  readonly stopTimeoutMs?: number;
}

export type SourceFactory = (definition: SourceDefinition, context: SourceContext) => Source;

/** Publishes one message to a bus: what `jobwire send`, sinks, `then: publish` and replies use. */
export interface Publisher {
  publish(topic: string, payload: Buffer, headers: Readonly<Record<string, string>>): Promise<void>;
  /**
   * Answers a request on the destination its sender named (AMQP `reply_to`, STOMP `reply-to`, a
   * NATS reply subject), as each broker's RPC pattern has it: straight there, not through the
   * source's topic settings. Throws PermanentError when nobody waits there any more (the reply
   * queue is gone), since no retry can deliver it.
   */
  reply?(destination: string, payload: Buffer, headers: Readonly<Record<string, string>>): Promise<void>;
  close(): Promise<void>;
}

export type PublisherFactory = (definition: SourceDefinition, context: { readonly logger: Logger }) => Promise<Publisher>;
