/**
 * One subject's JetStream pull-consumer loop: at-least-once.
 *
 * Each message is decoded, admitted by the dispatcher's capacity, delivered (recorded with its
 * runs) and only then acknowledged. A malformed message is terminated (`term`: never redelivered,
 * the server publishes a MSG_TERMINATED advisory) and logged with its correlation id; any other
 * failure naks it with `nakDelayMs`, so the broker redelivers it later. In-flight messages are
 * bounded by the consumer's `max_ack_pending` on the server and by `prefetch` in the client.
 *
 * The client's `consume()` survives reconnects by itself (it re-checks the consumer and pulls
 * again). This loop only restarts it when it ends for another reason — the consumer was deleted
 * under us, a terminal pull error — recreating the consumer, with backoff.
 */
import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { classifyDeliveryError } from './delivery-errors.js';
import { StopLatch, type Consumption, type ConsumptionContext } from './nats-consumption.js';
import { ensureConsumer, type ConsumerTarget } from './nats-jetstream-setup.js';
import { deliveryLabels, toMessage, type NatsDelivery } from './nats-message.js';
import type { NatsSettings } from './nats-settings.js';
import { reconnectDelayMs } from './reconnect.js';

/**
 * Lifetime of each pull request. A pull request outlives the client's subscription: a message
 * nak'ed at stop while it is still open would be handed to it — to nobody — and come back only
 * after the ack wait. So messages returned at stop are nak'ed with a delay that outlasts it.
 */
const PULL_EXPIRES_MS = 3000;
const STOP_NAK_DELAY_MS = PULL_EXPIRES_MS + 500;

export interface JetStreamHandles {
  readonly connection: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** `term` with a reason needs nats-server 2.10.4; older servers would ignore the whole term. */
  readonly termWithReason: boolean;
}

export class JetStreamConsumption implements Consumption {
  readonly done: Promise<void>;
  private readonly latch = new StopLatch();
  private readonly slots: Slots;
  private readonly unsettled: (() => void)[] = [];
  private messages: ConsumerMessages | undefined;

  constructor(
    private readonly context: ConsumptionContext,
    private readonly settings: NatsSettings,
    private readonly handles: JetStreamHandles,
    private readonly target: ConsumerTarget,
  ) {
    this.slots = new Slots(settings.prefetch);
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.latch.stop();
    // Ends the iterator after the messages already buffered, which `handle` returns (nak).
    await this.messages?.close();
    await this.done;
  }

  private get where(): Record<string, string> {
    return { stream: this.target.stream, consumer: this.target.durable, subject: this.target.subject };
  }

  private async run(): Promise<void> {
    const { connection, js, jsm } = this.handles;
    let failures = 0;
    while (!this.latch.isStopped && !connection.isClosed()) {
      try {
        await ensureConsumer(jsm, this.settings, this.target);
        const consumer = await js.consumers.get(this.target.stream, this.target.durable);
        const messages = await consumer.consume({ max_messages: this.settings.prefetch, expires: PULL_EXPIRES_MS });
        this.messages = messages;
        if (this.latch.isStopped) await messages.close();
        void this.watch(messages);
        try {
          for await (const message of messages) {
            failures = 0;
            await this.slots.take();
            void this.handle(message).finally(() => this.slots.give());
          }
        } finally {
          // However the iterator ended, the deliveries in progress finish and are settled first.
          await this.slots.drain();
          this.settleNow();
        }
        const ended = await messages.closed();
        if (this.latch.isStopped || connection.isClosed()) break;
        throw ended instanceof Error ? ended : new Error('the consumer stopped delivering');
      } catch (error) {
        if (this.latch.isStopped || connection.isClosed()) break;
        failures += 1;
        const delayMs = reconnectDelayMs(failures, this.context.reconnect);
        this.context.logger.warn({ ...this.where, err: errorMessage(error), attempt: failures, delayMs }, 'JetStream consumer interrupted; starting it again');
        await this.latch.sleep(delayMs);
      }
    }
  }

  /** Ends the current `consume()` when its consumer disappeared, so `run` recreates it. */
  private async watch(messages: ConsumerMessages): Promise<void> {
    for await (const event of messages.status()) {
      if (event.type === 'consumer_deleted' || event.type === 'consumer_not_found') {
        this.context.logger.warn({ ...this.where, event: event.type }, 'JetStream consumer is gone; recreating it');
        await messages.close();
        return;
      }
    }
  }

  /** Never rejects: every outcome ends in ack, term or nak. */
  private async handle(jsMessage: JsMsg): Promise<void> {
    if (this.latch.isStopped) {
      this.settle(jsMessage, (m) => m.nak(STOP_NAK_DELAY_MS));
      return;
    }
    const delivery: NatsDelivery = { source: this.context.source, subject: jsMessage.subject, headers: jsMessage.headers, data: jsMessage.data };
    let message: Message;
    try {
      message = toMessage(delivery, this.context.maxMessageBytes);
    } catch (error) {
      this.fail(jsMessage, delivery, error);
      return;
    }
    if (!(await this.latch.admit(this.context.capacity))) {
      this.settle(jsMessage, (m) => m.nak(STOP_NAK_DELAY_MS));
      return;
    }
    try {
      await this.context.deliver({ message });
    } catch (error) {
      this.fail(jsMessage, delivery, error);
      return;
    }
    this.settle(jsMessage, (m) => m.ack());
  }

  /**
   * Acks (and naks, terms) are sent together once per event-loop turn: the client writes to its
   * socket once per batch instead of once per message. If the connection just closed, the
   * server redelivers after the ack wait.
   */
  private settle(jsMessage: JsMsg, action: (message: JsMsg) => void): void {
    this.unsettled.push(() => {
      try {
        action(jsMessage);
      } catch (error) {
        this.context.logger.debug({ ...this.where, streamSequence: jsMessage.seq, err: errorMessage(error) }, 'could not settle the message: the server redelivers it');
      }
    });
    if (this.unsettled.length === 1) setImmediate(() => this.settleNow());
  }

  private settleNow(): void {
    for (const action of this.unsettled.splice(0)) action();
  }

  private fail(jsMessage: JsMsg, delivery: NatsDelivery, error: unknown): void {
    const reason = errorMessage(error);
    const labels = { ...this.where, ...deliveryLabels(delivery), streamSequence: jsMessage.seq, deliveryCount: jsMessage.info.deliveryCount };
    if (classifyDeliveryError(error) === 'reject') {
      this.settle(jsMessage, (m) => (this.handles.termWithReason ? m.term(reason) : m.term()));
      this.context.logger.error({ ...labels, reason }, 'malformed message terminated: it will not be redelivered');
    } else {
      this.settle(jsMessage, (m) => m.nak(this.settings.nakDelayMs));
      this.context.logger.warn({ ...labels, err: reason, redeliverInMs: this.settings.nakDelayMs }, 'message could not be recorded; returned to NATS for redelivery');
    }
  }
}

/**
 * Bounds the deliveries in progress at once to `prefetch`: several messages are recorded
 * concurrently (their acks leave in one write), without unbounded promises piling up.
 */
class Slots {
  private used = 0;
  /** Takers waiting for a slot: a freed slot passes straight to the first of them. */
  private readonly waiting: (() => void)[] = [];
  private readonly idle: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async take(): Promise<void> {
    if (this.used < this.size) {
      this.used += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  give(): void {
    const next = this.waiting.shift();
    if (next !== undefined) {
      next();
      return;
    }
    this.used -= 1;
    if (this.used === 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Resolves when every slot is free again. */
  async drain(): Promise<void> {
    if (this.used === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
