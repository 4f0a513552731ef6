/**
 * RabbitMQ drain benchmark, as defined in drain-harness.ts: jobwire draining N persistent
 * messages from a durable queue until every run finished and every message was acked, vs raw
 * amqplib consume+ack (one connection, the same prefetch) in the same run.
 *
 * RabbitMQ does not report a queue's unacked messages to a client, so "every message acked" is
 * the queue empty one round trip after the last run finished, and — what proves it — the queue
 * still empty after jobwire closed its channel (anything unacked would have returned to it).
 *
 * Usage: node dist/bench/amqp-drain.js [messages=20000] [prefetch=100]
 * Needs RabbitMQ at JOBWIRE_BENCH_AMQP_URL (default amqp://guest:guest@127.0.0.1:5672).
 * The last line holds the figures.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import { PAYLOAD_JSON, drainOptions, runDrainBench, type DrainBroker } from './drain-harness.js';

const options = drainOptions(100);
const url = process.env['JOBWIRE_BENCH_AMQP_URL'] ?? 'amqp://guest:guest@127.0.0.1:5672';
const PAYLOAD = Buffer.from(PAYLOAD_JSON);

async function rabbit(connection: ChannelModel, probe: Channel): Promise<DrainBroker> {
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
      const raw = await connect(url);
      const channel = await raw.createChannel();
      await channel.prefetch(options.prefetch);
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
    sourceSettings: () => `{ type: amqp, url: "${url}", prefetch: ${options.prefetch} }`,
    allAcked: async (queue) => (await depth(queue)) === 0,
    leftAfterStop: depth,
    async cleanup() {
      for (const queue of queues) await probe.deleteQueue(queue).catch(() => undefined);
    },
  };
}

const connection = await connect(url);
try {
  const probe = await connection.createChannel();
  await runDrainBench(await rabbit(connection, probe), options);
} finally {
  await connection.close();
}
