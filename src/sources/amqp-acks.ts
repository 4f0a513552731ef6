/**
 * The acknowledgements of one AMQP channel, sent together once per turn of the event loop.
 *
 * Acking each delivery on its own costs one frame and one socket write per message, which the
 * RabbitMQ drain benchmark measured as a large share of the source's time. Deliveries committed
 * in the same turn are instead acked with one `basic.ack(multiple=true)` for the highest of them
 * — but only up to the lowest delivery still open (being recorded, waiting for capacity, or
 * deliberately left unacked at stop), so a multiple ack never covers a message whose outcome is
 * not committed. Committed deliveries above an open one are acked one by one, at once.
 *
 * Delivery tags are per channel and increase with every delivery, whichever queue it came from,
 * so one instance serves every consumer of its channel. Rejects and requeues are sent by the
 * caller as they happen (`settledElsewhere`); the broker has then settled that tag, and a later
 * multiple ack that spans it acknowledges only what is still unacknowledged.
 */
import type { Channel, ConsumeMessage } from 'amqplib';

export class AmqpAcks {
  /** Tags received and not yet committed, rejected or requeued. */
  private readonly open = new Set<number>();
  private ready: ConsumeMessage[] = [];
  private scheduled = false;

  constructor(
    private readonly channel: Pick<Channel, 'ack'>,
    /** Called when the channel refused an ack (it closed): the broker redelivers those messages. */
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A delivery arrived: it holds back multiple acks until it is acked or settled elsewhere. */
  received(delivery: ConsumeMessage): void {
    this.open.add(delivery.fields.deliveryTag);
  }

  /** Its outcome is committed: it is acked with the others of this turn. */
  ack(delivery: ConsumeMessage): void {
    this.open.delete(delivery.fields.deliveryTag);
    this.ready.push(delivery);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** The caller rejected or requeued it itself. */
  settledElsewhere(delivery: ConsumeMessage): void {
    this.open.delete(delivery.fields.deliveryTag);
  }

  /** Sends the pending acks now (also before the channel is closed). */
  flush(): void {
    this.scheduled = false;
    if (this.ready.length === 0) return;
    const ready = this.ready;
    this.ready = [];
    let lowestOpen = Infinity;
    for (const tag of this.open) if (tag < lowestOpen) lowestOpen = tag;
    let upTo: ConsumeMessage | undefined;
    try {
      for (const delivery of ready) {
        const tag = delivery.fields.deliveryTag;
        if (tag > lowestOpen) this.channel.ack(delivery);
        else if (upTo === undefined || tag > upTo.fields.deliveryTag) upTo = delivery;
      }
      if (upTo !== undefined) this.channel.ack(upTo, true);
    } catch (error) {
      this.onError(error);
    }
  }
}
