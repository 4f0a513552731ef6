/**
 * Delivers outbox entries to a configured source's bus through its Publisher (AMQP with
 * publisher confirms, STOMP with receipts, NATS JetStream acks): an entry counts as delivered
 * only once the broker confirmed it. The connection is opened on first use and dropped after a
 * failure, so the next try reconnects; a broker that is down costs retries, never a run.
 */
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { errorMessage, PermanentError, RetryableError } from '../core/errors.js';
import type { Publisher } from '../sources/source.js';
import type { OutboxRecord } from '../store/store.js';
import type { Deliverer, OutboundPayload } from './deliverer.js';

export interface BusDelivererOptions {
  readonly target: string;
  readonly source: SourceDefinition;
  /** Default topic when an entry names none (a sink's `topic`). */
  readonly topic?: string;
  /** `reply`: each entry's topic is the destination a requester named (Publisher.reply). Default `publish`. */
  readonly mode?: 'publish' | 'reply';
  readonly maxPending?: number;
  readonly connect: (definition: SourceDefinition, context: { readonly logger: Logger }) => Promise<Publisher>;
  readonly logger: Logger;
  /** A connect or a publish not confirmed within this counts as failed (default 10 s). */
  readonly timeoutMs?: number;
}

export class BusDeliverer implements Deliverer {
  readonly target: string;
  readonly pipelined = true;
  readonly maxPending: number | undefined;
  #publisher: Promise<Publisher> | undefined;
  #lastError: string | undefined;
  #delivered = 0;

  constructor(private readonly options: BusDelivererOptions) {
    this.target = options.target;
    this.maxPending = options.maxPending;
  }

  async deliver(entry: OutboxRecord, payload: OutboundPayload): Promise<void> {
    const topic = payload.topic ?? this.options.topic;
    if (topic === undefined) throw new Error(`outbox entry ${entry.seq} names no topic and ${this.target} has none`);
    this.#publisher ??= this.options.connect(this.options.source, { logger: this.options.logger });
    const publishing = this.#publisher;
    try {
      // A connection that dies under a publish may never answer it: bounded, so the relay retries.
      await withTimeout(
        publishing.then((publisher) => {
          const body = Buffer.from(payload.body, 'utf8');
          const headers = { ...payload.headers, 'message-id': entry.id };
          if (this.options.mode !== 'reply') return publisher.publish(topic, body, headers);
          if (publisher.reply === undefined) throw new PermanentError(`source ${this.options.source.name} cannot send replies`);
          return publisher.reply(topic, body, headers);
        }),
        this.options.timeoutMs ?? 10_000,
        `${this.target}: no confirmation from source ${this.options.source.name}`,
      );
      this.#delivered++;
      this.#lastError = undefined;
    } catch (error) {
      this.#lastError = errorMessage(error);
      // The next try reconnects; whoever still holds this connection finishes with it first.
      // A permanent failure (a reply queue that is gone) says nothing about the connection.
      if (this.#publisher === publishing && !(error instanceof PermanentError)) {
        this.#publisher = undefined;
        void publishing.then((publisher) => publisher.close()).catch(() => undefined);
      }
      throw error;
    }
  }

  describe(): Readonly<Record<string, unknown>> {
    return {
      type: 'bus',
      source: this.options.source.name,
      ...(this.options.topic === undefined ? {} : { topic: this.options.topic }),
      delivered: this.#delivered,
      lastError: this.#lastError ?? null,
    };
  }

  async close(): Promise<void> {
    const publishing = this.#publisher;
    this.#publisher = undefined;
    if (publishing !== undefined) await publishing.then((publisher) => publisher.close()).catch(() => undefined);
  }
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new RetryableError(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
