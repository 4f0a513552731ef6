/**
 * RabbitMQ's side of the broker benchmarks (drain-harness.ts): pre-loading a durable queue with
 * persistent messages, the raw amqplib consume+ack drain, and the checks that every message was
 * acked. Used by amqp-drain.ts and memory-drain.ts.
 *
 * RabbitMQ does not report a queue's unacked messages to a client, so "every message acked" is
 * the queue empty one round trip after the last run finished, and — what proves it — the queue
 * still empty after jobwire closed its channel (anything unacked would have returned to it).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { PAYLOAD_JSON, type DrainBroker } from './drain-harness.js';

export const AMQP_BENCH_URL = process.env['JOBWIRE_BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const PAYLOAD = Buffer.from(PAYLOAD_JSON);

/** RabbitMQ as a drain bench's broker side: durable queues of persistent messages, consumed with `prefetch`. */
export function rabbitBroker(connection: ChannelModel, probe: Channel, prefetch: number): DrainBroker {
  const suffix = `${process.pid}.${randomBytes(3).toString('hex')}`;
  const queues: string[] = [];
  const depth = async (queue: string): Promise<number> => (await probe.checkQueue(queue)).messageCount;
  return {
    name: 'amqp',
    rawLabel: 'raw amqplib consume+ack',
    async preload(label, count) {
      const queue = `jobwire-bench.${label}.${suffix}`;
      queues.push(queue);
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true });
      for (let i = 0; i < count; i++) {
        const publish = { persistent: true, messageId: `${queue}-${i}`, contentType: 'application/json' };
        if (!channel.sendToQueue(queue, PAYLOAD, publish)) await new Promise((resolve) => channel.once('drain', resolve));
      }
      await channel.waitForConfirms();
      await channel.close();
      return queue;
    },
    async rawDrain(queue, count) {
      const raw = await connect(AMQP_BENCH_URL);
      const channel = await raw.createChannel();
      await channel.prefetch(prefetch);
      const begin = performance.now();
      await new Promise<void>((resolve) => {
        let acked = 0;
        void channel.consume(queue, (message) => {
          if (message === null) return;
          channel.ack(message);
          if (++acked === count) resolve();
        });
      });
      // One round trip after the last ack, so the broker has processed them all.
      await channel.checkQueue(queue);
      const seconds = (performance.now() - begin) / 1000;
      await raw.close();
      return seconds;
    },
    sourceSettings: () => `{ type: amqp, url: "${AMQP_BENCH_URL}", prefetch: ${prefetch} }`,
    allAcked: async (queue) => (await depth(queue)) === 0,
    leftAfterStop: depth,
    async cleanup() {
      for (const queue of queues) await probe.deleteQueue(queue).catch(() => undefined);
    },
  };
}

/** RabbitMQ as a drain bench's broker side, on its own connection; `close` ends it. */
export async function openRabbitBroker(prefetch: number): Promise<{ readonly broker: DrainBroker; close(): Promise<void> }> {
  const connection = await connect(AMQP_BENCH_URL);
  try {
    const probe = await connection.createChannel();
    return { broker: rabbitBroker(connection, probe, prefetch), close: () => connection.close() };
  } catch (error) {
    await connection.close();
    throw error;
  }
}
