/**
 * `type: stomp` — ActiveMQ Classic (or any STOMP 1.2/1.1 broker) as a jobwire source and
 * publisher.
 *
 * Each trigger topic is a destination (`/queue/x`, `/topic/x`, a virtual-topic consumer queue
 * `/queue/Consumer.<name>.VirtualTopic.<topic>`; a bare name means `/queue/<name>`), subscribed
 * with `ack: client-individual` and `activemq.prefetchSize: <prefetch>`, so the broker never has
 * more than `prefetch` unacknowledged messages per subscription out with us.
 *
 * Each message, as it arrives: wait for dispatcher capacity, normalize, `deliver` (commit), then
 * ACK. Messages are handled side by side — at most `prefetch` per subscription, as the broker
 * sends no more unacknowledged — so a burst is committed in one turn and the dispatcher claims
 * its runs in batches rather than one by one. Failures:
 *  - malformed (InvalidInputError): SEND a copy to `deadLetterQueue` (with the reason) and ACK
 *    the original, or NACK it when no DLQ is configured (ActiveMQ moves it to ActiveMQ.DLQ);
 *  - anything else: the message stays unacknowledged and the connection is dropped, which is
 *    how STOMP hands unacknowledged messages back; the reconnect loop (with backoff) picks them
 *    up again, and the store's dedupe makes a redelivery of a committed message a no-op.
 * The dedupe key is the broker's `message-id`, stable across ActiveMQ redeliveries.
 *
 * `stop()` lets deliveries under way finish and ACK, then DISCONNECTs; a broker that stops
 * answering meanwhile gets `stopTimeoutMs`, then the socket is dropped (bounded-stop.ts).
 */
import type { IMessage, StompHeaders } from '@stomp/stompjs';
import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { InvalidInputError, errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { DEFAULT_STOP_TIMEOUT_MS, boundedStop } from './bounded-stop.js';
import { classifyDeliveryError } from './delivery-errors.js';
import { normalizeMessage } from './normalize.js';
import { reconnectDelayMs } from './reconnect.js';
import type { DeliverFn, Publisher, PublisherFactory, Source, SourceContext, SourceFactory, SourceStatus } from './source.js';
import { StompConnection, connectInTurn } from './stomp-connection.js';
import { deadLetterHeaders, publishHeaders } from './stomp-headers.js';
import { destinationOf, loadStompTls, parseStompSettings, type StompSettings } from './stomp-settings.js';
import { ABORTED, stopController, unlessAborted } from './unless-aborted.js';

export const createStompSource: SourceFactory = (definition: SourceDefinition, context: SourceContext) =>
  new StompSource(parseStompSettings(definition), context);

export class StompSource implements Source {
  readonly type = 'stomp';
  readonly name: string;
  private readonly log: Logger;
  private state: SourceStatus = { state: 'starting' };
  private connection: StompConnection | undefined;
  private tls: tls.ConnectionOptions | undefined;
  private loop: Promise<void> | undefined;
  /** Deliveries under way: at most `prefetch` per subscription, since the broker sends no more unacked. */
  private readonly inFlight = new Set<Promise<void>>();
  private stopped: Promise<void> | undefined;
  /** Aborted when stop() begins: releases deliveries waiting for capacity, and pauses. */
  private readonly stopSignal = stopController();

  private get stopping(): boolean {
    return this.stopSignal.signal.aborted;
  }

  constructor(
    private readonly settings: StompSettings,
    private readonly context: SourceContext,
  ) {
    this.name = settings.source;
    this.log = context.logger.child({ source: settings.source, sourceType: 'stomp' });
  }

  /** Resolves once subscribed, or once the first round of connection attempts failed (it keeps trying). */
  async start(topics: readonly string[], deliver: DeliverFn): Promise<void> {
    this.tls = await loadStompTls(this.settings);
    let firstRound!: () => void;
    const firstRoundDone = new Promise<void>((resolve) => {
      firstRound = resolve;
    });
    this.loop = this.run(topics, deliver, firstRound);
    await firstRoundDone;
  }

  status(): SourceStatus {
    return this.state;
  }

  stop(): Promise<void> {
    if (this.stopped !== undefined) return this.stopped;
    this.stopSignal.abort();
    this.stopped = boundedStop(this.shutdown(), {
      timeoutMs: this.context.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      logger: this.log,
      force: () => this.connection?.abort('stop deadline passed'),
    }).then(() => {
      this.state = { state: 'stopped' };
      this.log.info('STOMP source stopped');
    });
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    // Deliveries under way finish and are acknowledged; messages not yet started stay unacknowledged.
    await this.settled();
    // The loop may be finishing a connect: it closes a connection made after stop() itself.
    await this.loop;
    await this.connection?.close();
  }

  /** Connect, subscribe, wait for the connection to end, back off, again — until stopped. */
  private async run(topics: readonly string[], deliver: DeliverFn, firstRound: () => void): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      let lastError: string;
      try {
        const connection = await connectInTurn({ settings: this.settings, tls: this.tls });
        this.connection = connection;
        if (this.stopping) {
          // Made after stop(), perhaps after its deadline: nobody else would close it.
          await connection.close();
          break;
        }
        await this.subscribeAll(connection, topics, deliver);
        attempt = 0;
        this.state = { state: 'connected', since: Date.now() };
        this.log.info({ url: connection.endpoint.display, topics }, 'STOMP source connected and subscribed');
        firstRound();
        const ended = await unlessAborted(connection.closed, this.stopSignal.signal);
        lastError = ended === ABORTED ? 'stopping' : ended;
        if (this.stopping) break;
        this.log.warn({ url: connection.endpoint.display, reason: lastError }, 'STOMP connection lost');
        // Deliveries still running finish (their ACKs cannot be sent: those messages come back
        // and are recognised as duplicates); then the new connection starts from a clean slate.
        await this.settled();
      } catch (error) {
        lastError = errorMessage(error);
        this.connection?.abort(lastError);
        await this.settled();
      }
      if (this.stopping) break;
      attempt += 1;
      const delayMs = reconnectDelayMs(attempt, this.context.reconnect);
      this.state = { state: 'reconnecting', attempt, lastError, nextTryAt: Date.now() + delayMs };
      this.log.warn(
        { attempt, delayMs, lastError, urls: this.settings.endpoints.map((endpoint) => endpoint.display) },
        'STOMP source reconnecting',
      );
      firstRound();
      await this.sleep(delayMs);
    }
    firstRound();
  }

  private async subscribeAll(connection: StompConnection, topics: readonly string[], deliver: DeliverFn): Promise<void> {
    const headers: StompHeaders = { ack: 'client-individual', 'activemq.prefetchSize': String(this.settings.prefetch) };
    await Promise.all(
      topics.map((topic) =>
        connection.subscribe(destinationOf(topic), headers, (frame) => {
          const delivery = this.handle(connection, topic, frame, deliver);
          this.inFlight.add(delivery);
          void delivery.finally(() => this.inFlight.delete(delivery));
        }),
      ),
    );
  }

  private async handle(connection: StompConnection, topic: string, frame: IMessage, deliver: DeliverFn): Promise<void> {
    // Skipped messages stay unacknowledged: the broker has them back once this connection ends.
    if (this.stopping || !connection.isOpen) return;
    const admitted = await unlessAborted(this.context.capacity.admit(), this.stopSignal.signal);
    if (admitted === ABORTED || !connection.isOpen) return;
    let message: Message | undefined;
    try {
      message = this.normalize(topic, frame);
      await deliver({ message });
    } catch (error) {
      await this.failed(connection, topic, frame, message, error);
      return;
    }
    connection.ack(frame);
  }

  private normalize(topic: string, frame: IMessage): Message {
    const size = frame.binaryBody.byteLength;
    if (size > this.context.maxMessageBytes) {
      throw new InvalidInputError(`message of ${size} bytes is over limits.maxMessageSize (${this.context.maxMessageBytes} bytes)`);
    }
    const destination = frame.headers['destination'];
    return normalizeMessage({
      source: this.name,
      // A wildcard subscription (`/queue/orders.>`) reports where each message really came from.
      topic: /[*>]/.test(topic) && destination !== undefined ? destination : topic,
      headers: messageHeaders(frame),
      payload: frame.binaryBody,
      ...idOf(topic, frame),
    });
  }

  private async failed(connection: StompConnection, topic: string, frame: IMessage, message: Message | undefined, error: unknown): Promise<void> {
    const headers = frame.headers;
    const messageId = message?.id ?? headers['message-id'];
    const correlationId = message?.correlationId ?? headers['correlation-id'] ?? messageId;
    const log = this.log.child({ correlationId, messageId, topic });
    if (classifyDeliveryError(error) === 'requeue') {
      log.warn({ err: error }, 'delivery failed: message left unacknowledged; reconnecting so the broker redelivers it');
      connection.abort(`delivery failed: ${errorMessage(error)}`);
      return;
    }
    const reason = errorMessage(error);
    const dlq = this.settings.deadLetterQueue;
    if (dlq === undefined) {
      log.error({ reason }, 'malformed message rejected (NACK: the broker dead-letters it)');
      connection.nack(frame);
      return;
    }
    try {
      await connection.send(dlq, frame.binaryBody, deadLetterHeaders(headers, reason));
      connection.ack(frame);
      log.error({ reason, deadLetterQueue: dlq }, 'malformed message rejected and sent to the dead-letter queue');
    } catch (sendError) {
      // Not acknowledged: it comes back after the reconnect and is rejected again.
      log.error({ reason, err: sendError, deadLetterQueue: dlq }, 'malformed message could not be dead-lettered; it stays on the broker');
      connection.abort(`dead-lettering failed: ${errorMessage(sendError)}`);
    }
  }

  private async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await unlessAborted(new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), this.stopSignal.signal);
    clearTimeout(timer);
  }
}

/** The frame's headers minus the ones that only mean something on this connection. */
function messageHeaders(frame: IMessage): Record<string, string> {
  const { ack: _ack, subscription: _subscription, 'content-length': _length, ...headers } = frame.headers;
  return headers;
}

/**
 * The dedupe key: the broker's `message-id` (ActiveMQ keeps it across redeliveries). A broker
 * that sends none gets a content hash (sha256 of destination + payload), so its redeliveries
 * still dedupe — at the price that two identical messages on one destination count as one.
 */
function idOf(topic: string, frame: IMessage): { id: string } {
  const id = frame.headers['message-id'];
  if (id !== undefined && id !== '') return { id };
  const hash = createHash('sha256').update(topic).update('\0').update(frame.binaryBody).digest('hex');
  return { id: `sha256:${hash}` };
}

/** `jobwire send` for STOMP: SEND persistent with a receipt; resolves once the broker has it. */
export const createStompPublisher: PublisherFactory = async (definition: SourceDefinition, context: { readonly logger: Logger }) => {
  const settings = parseStompSettings(definition);
  const connection = await connectInTurn({ settings, tls: await loadStompTls(settings) });
  context.logger.debug({ source: settings.source, url: connection.endpoint.display }, 'STOMP publisher connected');
  const publisher: Publisher = {
    async publish(topic, payload, headers) {
      await connection.send(destinationOf(topic), payload, publishHeaders(headers));
    },
    // `reply-to` names a whole destination (/queue/…, /temp-queue/…, ActiveMQ's /remote-temp-queue/…).
    async reply(destination, payload, headers) {
      await connection.send(destinationOf(destination), payload, publishHeaders(headers));
    },
    async close() {
      await connection.close();
    },
  };
  return publisher;
};
