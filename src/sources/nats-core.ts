/**
 * One subject's core NATS subscription (`mode: core`): AT-MOST-ONCE. Core NATS keeps nothing:
 * a message published while jobwire is disconnected or stopped is never seen, and one that
 * cannot be recorded (malformed, store unavailable) is logged and dropped — there is nothing to
 * acknowledge or return. The client re-subscribes by itself after a reconnect.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errorMessage } from '../core/errors.js';
import type { Message } from '../core/message.js';
import { classifyDeliveryError } from './delivery-errors.js';
import { StopLatch, type Consumption, type ConsumptionContext } from './nats-consumption.js';
import { deliveryLabels, toMessage, type NatsDelivery } from './nats-message.js';

export class CoreConsumption implements Consumption {
  readonly done: Promise<void>;
  private readonly latch = new StopLatch();
  private readonly subscription: Subscription;

  constructor(
    private readonly context: ConsumptionContext,
    connection: NatsConnection,
    subject: string,
    queue: string | undefined,
  ) {
    this.subscription = connection.subscribe(subject, queue === undefined ? {} : { queue });
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.latch.stop();
    this.subscription.unsubscribe();
    await this.done;
  }

  private async run(): Promise<void> {
    for await (const message of this.subscription) {
      if (this.latch.isStopped) continue;
      await this.handle(message);
    }
  }

  private async handle(natsMessage: Msg): Promise<void> {
    const delivery: NatsDelivery = {
      source: this.context.source,
      subject: natsMessage.subject,
      headers: natsMessage.headers,
      data: natsMessage.data,
      ...(natsMessage.reply === undefined ? {} : { reply: natsMessage.reply }),
    };
    let message: Message;
    try {
      message = toMessage(delivery, this.context.maxMessageBytes);
      if (!(await this.latch.admit(this.context.capacity))) return;
      await this.context.deliver({ message });
    } catch (error) {
      const labels = deliveryLabels(delivery);
      if (classifyDeliveryError(error) === 'reject') {
        this.context.logger.error({ ...labels, reason: errorMessage(error) }, 'malformed message dropped (core NATS: at-most-once)');
      } else {
        this.context.logger.error({ ...labels, err: errorMessage(error) }, 'message could not be recorded and is lost (core NATS: at-most-once)');
      }
    }
  }
}
