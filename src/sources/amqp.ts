/**
 * The `amqp` source: consumes RabbitMQ (AMQP 0-9-1) queues named by the triggers' topics.
 *
 * - Every delivery is acked only after `deliver` resolved (message and runs committed). A
 *   malformed one (undecodable, over `limits.maxMessageSize`) is logged with its correlation id
 *   and rejected without requeue, so a queue-level dead-letter exchange receives it and the
 *   queue behind it keeps flowing; any other failure puts it back on the queue (`nack` with
 *   requeue), after a short pause so a failing store does not spin the broker.
 * - At most `prefetch` messages are unacked at once (channel QoS), and each waits for
 *   `capacity.admit()` before it is delivered: a full dispatcher backlog stops the flow and the
 *   broker keeps the rest.
 * - Losing the connection (broker restart, network) starts a reconnect loop with exponential
 *   backoff and full jitter; each attempt redeclares the queues and resubscribes. Messages that
 *   were unacked on the lost channel are redelivered by the broker and deduplicated by id.
 * - Acks go out once per event-loop turn, as one multiple ack where the deliveries allow it
 *   (amqp-acks.ts).
 * - `stop()` cancels the consumers, lets in-flight deliveries finish, sends the last acks and
 *   closes the connection; whatever is still unacked then returns to the queue. A broker that
 *   stops answering meanwhile gets `stopTimeoutMs`, then the socket is destroyed (bounded-stop.ts).
 */
import { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { SourceDefinition } from '../config/types.js';
import { errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { AmqpAcks } from './amqp-acks.js';
import { toRawMessage } from './amqp-message.js';
import { IGNORED_KEYS, readAmqpSettings, redactUrl, settingsForQueue, type AmqpSettings } from './amqp-settings.js';
import { AmqpTopologyMismatchError, checkQueueTopics, declareQueue } from './amqp-topology.js';
import { DEFAULT_STOP_TIMEOUT_MS, boundedStop } from './bounded-stop.js';
import { classifyDeliveryError } from './delivery-errors.js';
import { normalizeMessage } from './normalize.js';
import { stopController, unlessAborted } from './unless-aborted.js';
import { reconnectDelayMs } from './reconnect.js';
import type { DeliverFn, Source, SourceContext, SourceFactory, SourceStatus } from './source.js';

export { createAmqpPublisher } from './amqp-publisher.js';

/** One connection and its consuming channel; replaced as a whole on reconnect. */
interface Session {
  readonly connection: ChannelModel;
  readonly channel: Channel;
  readonly acks: AmqpAcks;
  readonly consumerTags: string[];
  /** Set once the connection or channel closed: nothing is acked through it any more. */
  lost: boolean;
  /** False while queues are declared and consumers set up (a failure then is thrown, not handled). */
  ready: boolean;
}

type Settle = 'ack' | 'reject' | 'requeue';

export class AmqpSource implements Source {
  readonly type = 'amqp';
  readonly name: string;
  private readonly settings: AmqpSettings;
  private readonly logger: Logger;
  private state: SourceStatus = { state: 'starting' };
  private queues: readonly string[] = [];
  private deliver: DeliverFn | undefined;
  private session: Session | undefined;
  private attempt = 0;
  private urlIndex = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;
  /** The connection being set up (queues declared, consumers started), until it becomes the session. */
  private opening: ChannelModel | undefined;
  /** Aborted when stop() begins: releases deliveries waiting for capacity. */
  private readonly stopping = stopController();
  private stopped: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly reconnect: SourceContext['reconnect'];

  constructor(
    definition: SourceDefinition,
    private readonly context: SourceContext,
  ) {
    this.name = definition.name;
    this.settings = readAmqpSettings(definition);
    this.logger = context.logger.child({ source: definition.name, sourceType: 'amqp' });
    const ignored: string[] = IGNORED_KEYS.filter((key) => definition.settings[key] !== undefined);
    if (typeof definition.settings['durable'] === 'string') ignored.push('durable (a consumer name)');
    if (ignored.length > 0) this.logger.warn({ ignored }, `settings ${ignored.join(', ')} do not apply to an amqp source and are ignored`);
    const { reconnectInitialMs } = this.settings;
    this.reconnect = reconnectInitialMs === undefined ? context.reconnect : { initialMs: reconnectInitialMs, maxMs: Math.max(reconnectInitialMs, context.reconnect.maxMs) };
  }

  async start(topics: readonly string[], deliver: DeliverFn): Promise<void> {
    checkQueueTopics(this.name, topics);
    this.queues = [...topics];
    this.deliver = deliver;
    if (this.queues.length === 0) this.logger.warn('no trigger names this source: connecting, but consuming no queue');
    try {
      await this.connectOnce();
    } catch (error) {
      // A config that contradicts the broker will not fix itself: fail the start loudly.
      if (error instanceof AmqpTopologyMismatchError) {
        this.state = { state: 'stopped' };
        throw error;
      }
      this.scheduleReconnect(error);
    }
  }

  status(): SourceStatus {
    return this.state;
  }

  stop(): Promise<void> {
    if (this.stopped !== undefined) return this.stopped;
    this.stopping.abort();
    clearTimeout(this.reconnectTimer);
    this.stopped = boundedStop(this.shutdown(), {
      timeoutMs: this.context.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS,
      logger: this.logger,
      force: () => this.dropConnection(),
    }).then(() => {
      this.state = { state: 'stopped' };
      this.logger.info('amqp source stopped');
    });
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    await this.connecting?.catch(() => undefined);
    const session = this.session;
    if (session !== undefined && !session.lost) {
      // No new deliveries from here on; those already received finish below.
      await Promise.all(session.consumerTags.map((tag) => session.channel.cancel(tag).catch(() => undefined)));
    }
    await Promise.all(this.inFlight);
    if (session !== undefined && !session.lost) {
      session.acks.flush();
      session.lost = true;
      // The channel first: its close-ok comes after the broker processed the acks sent before it.
      // Closing returns whatever is still unacked (prefetched, never delivered) to the queues.
      await session.channel.close().catch(() => undefined);
      await session.connection.close().catch(() => undefined);
    }
    this.session = undefined;
  }

  /** The stop deadline passed: no more acks, and the socket is destroyed without a word to the broker. */
  private dropConnection(): void {
    const reason = new Error('amqp source stop deadline passed');
    if (this.opening !== undefined) destroySocket(this.opening, reason);
    const session = this.session;
    this.session = undefined;
    if (session === undefined) return;
    session.lost = true;
    destroySocket(session.connection, reason);
  }

  private connectOnce(): Promise<void> {
    const connecting = this.connect().finally(() => {
      this.connecting = undefined;
    });
    this.connecting = connecting;
    return connecting;
  }

  private async connect(): Promise<void> {
    const { urls, socketOptions, prefetch } = this.settings;
    const url = urls[this.urlIndex++ % urls.length] ?? '';
    const connection = await connect(url, socketOptions);
    this.opening = connection;
    // Without 'error' listeners amqplib rethrows; the 'close' that always follows does the work.
    connection.on('error', (error: Error) => this.logger.warn({ err: errorMessage(error) }, 'amqp connection error'));
    connection.on('blocked', (reason: string) => this.logger.warn({ reason }, 'broker blocked the connection (resource alarm)'));
    const channel = await connection.createChannel().catch(async (error: unknown) => {
      this.opening = undefined;
      await connection.close().catch(() => undefined);
      throw error;
    });
    channel.on('error', (error: Error) => this.logger.warn({ err: errorMessage(error) }, 'amqp channel error'));
    const acks = new AmqpAcks(channel, (error) => this.logger.debug({ err: errorMessage(error) }, 'could not send acks: the broker redelivers those messages'));
    const session: Session = { connection, channel, acks, consumerTags: [], lost: false, ready: false };
    connection.on('close', (error?: Error) => this.onLost(session, error ?? new Error('connection closed')));
    channel.on('close', () => this.onLost(session, new Error('channel closed by the broker')));
    try {
      await channel.prefetch(prefetch, false);
      // Per-consumer QoS bounds each queue; with several queues a channel-wide limit bounds the sum.
      if (this.queues.length > 1) await channel.prefetch(prefetch, true);
      for (const queue of this.queues) await declareQueue(channel, this.name, queue, this.settings);
      if (this.stopping.signal.aborted) throw new Error('stopping');
      for (const queue of this.queues) {
        const { consumerTag } = await channel.consume(queue, (delivery) => this.onDelivery(session, queue, delivery), { noAck: false });
        session.consumerTags.push(consumerTag);
      }
    } catch (error) {
      session.lost = true;
      await connection.close().catch(() => undefined);
      throw error;
    } finally {
      this.opening = undefined;
    }
    session.ready = true;
    this.session = session;
    this.attempt = 0;
    this.state = { state: 'connected', since: Date.now() };
    this.logger.info({ url: redactUrl(url), queues: this.queues, prefetch }, 'amqp source connected and consuming');
  }

  private onLost(session: Session, error: Error): void {
    if (session.lost) return;
    session.lost = true;
    // A channel-level close leaves the connection open: close it so both are replaced together.
    void session.connection.close().catch(() => undefined);
    if (!session.ready || session !== this.session) return;
    this.session = undefined;
    if (this.stopping.signal.aborted) return;
    this.logger.warn({ err: errorMessage(error) }, 'amqp connection lost');
    this.scheduleReconnect(error);
  }

  private scheduleReconnect(error: unknown): void {
    if (this.stopping.signal.aborted) return;
    this.attempt += 1;
    const delayMs = reconnectDelayMs(this.attempt, this.reconnect);
    const lastError = errorMessage(error);
    this.state = { state: 'reconnecting', attempt: this.attempt, lastError, nextTryAt: Date.now() + delayMs };
    const level = error instanceof AmqpTopologyMismatchError ? 'error' : 'warn';
    this.logger[level]({ attempt: this.attempt, delayMs, err: lastError }, `amqp source "${this.name}" reconnecting in ${delayMs} ms (attempt ${this.attempt})`);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.stopping.signal.aborted) return;
      this.logger.info({ attempt: this.attempt }, `amqp source "${this.name}" reconnect attempt ${this.attempt}`);
      this.connectOnce().then(
        () => this.logger.info('amqp source reconnected'),
        (failure: unknown) => this.scheduleReconnect(failure),
      );
    }, delayMs);
  }

  private onDelivery(session: Session, queue: string, delivery: ConsumeMessage | null): void {
    if (delivery === null) {
      // The broker cancelled the consumer (queue deleted): reconnecting redeclares it.
      this.onLost(session, new Error(`the broker cancelled the consumer of queue "${queue}" (deleted?)`));
      return;
    }
    session.acks.received(delivery);
    const task = this.handle(session, queue, delivery);
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /** Never rejects: every outcome ends in ack, reject, requeue, or (on stop) nothing. */
  private async handle(session: Session, queue: string, delivery: ConsumeMessage): Promise<void> {
    const { raw, correlationId } = toRawMessage(this.name, queue, delivery);
    const size = delivery.content.length;
    if (size > this.context.maxMessageBytes) {
      const reason = `message of ${size} bytes is over limits.maxMessageSize (${this.context.maxMessageBytes} bytes)`;
      this.rejectMalformed(session, queue, delivery, correlationId, raw.id, reason);
      return;
    }
    let message: Message;
    try {
      message = normalizeMessage(raw);
    } catch (error) {
      this.rejectMalformed(session, queue, delivery, correlationId, raw.id, errorMessage(error));
      return;
    }
    await unlessAborted(this.context.capacity.admit(), this.stopping.signal);
    // Stopping, or the channel is gone: leave it unacked, the broker redelivers it.
    if (this.stopping.signal.aborted || session.lost) return;
    try {
      await (this.deliver ?? rejectUndelivered)({ message });
      this.settle(session, delivery, 'ack', message.correlationId);
    } catch (error) {
      if (classifyDeliveryError(error) === 'reject') {
        this.rejectMalformed(session, queue, delivery, message.correlationId, message.id, errorMessage(error));
        return;
      }
      this.logger.error(
        { correlationId: message.correlationId, messageId: message.id, queue, err: errorMessage(error) },
        'message could not be recorded: returning it to the queue',
      );
      // A pause before the requeue, so a failing store is not hammered by instant redeliveries.
      await sleep(this.reconnect.initialMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
      this.settle(session, delivery, 'requeue', message.correlationId);
    }
  }

  private rejectMalformed(session: Session, queue: string, delivery: ConsumeMessage, correlationId: string, messageId: string | undefined, reason: string): void {
    const deadLetterExchange = settingsForQueue(this.settings, queue).deadLetterExchange;
    this.logger.warn(
      { correlationId, messageId, queue, reason, deadLetterExchange: deadLetterExchange ?? null },
      deadLetterExchange === undefined
        ? `malformed message rejected (dropped unless queue "${queue}" has a dead-letter policy): ${reason}`
        : `malformed message rejected to dead-letter exchange "${deadLetterExchange}": ${reason}`,
    );
    this.settle(session, delivery, 'reject', correlationId);
  }

  private settle(session: Session, delivery: ConsumeMessage, action: Settle, correlationId: string): void {
    if (session.lost) {
      this.logger.debug({ correlationId, action }, 'channel closed before the message was settled: the broker redelivers it');
      return;
    }
    if (action === 'ack') {
      session.acks.ack(delivery);
      return;
    }
    session.acks.settledElsewhere(delivery);
    try {
      session.channel.nack(delivery, false, action === 'requeue');
    } catch (error) {
      // The channel closed between the check and the call: same outcome, the broker redelivers.
      this.logger.debug({ correlationId, action, err: errorMessage(error) }, 'could not settle the message: the broker redelivers it');
    }
  }
}

/** amqplib keeps its socket as `connection.stream` (not in its types): found and checked at run time. */
function destroySocket(model: ChannelModel, reason: Error): void {
  const inner: unknown = model.connection;
  const stream = typeof inner === 'object' && inner !== null && 'stream' in inner ? inner.stream : undefined;
  if (stream instanceof Duplex) stream.destroy(reason);
}

async function rejectUndelivered(): Promise<void> {
  throw new Error('amqp source received a message before start()');
}

export const createAmqpSource: SourceFactory = (definition, context) => new AmqpSource(definition, context);
